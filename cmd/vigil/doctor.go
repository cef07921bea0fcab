package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep"
)

// cmdDoctor reports what an operator needs to know before trusting Vigil:
// the checks by stage, DNS servers and the source-port check, blocklist
// health, and the reputation store.
func cmdDoctor(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: built-in defaults)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(config.Config{Log: config.Log{Level: "error", Format: "text"}}, stderr)
	rt, store, done, err := openRuntime(cfg, log, true)
	if err != nil {
		return err
	}
	defer done()
	storeState := "ok"
	if store == nil {
		storeState = "UNAVAILABLE (locked by a running daemon, or path not writable; see log above)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "config:\t%s\n", orDefault(*cfgPath))
	fmt.Fprintf(tw, "milter:\t%s\n", cfg.Milter.Listen)
	for _, stage := range []string{"auth", "links", "policy", "reputation"} {
		fmt.Fprintf(tw, "stage %s:\t%s\n", stage, strings.Join(rt.engine.Pipeline().Checks()[stage], ", "))
	}
	fmt.Fprintf(tw, "reputation:\t%s %s: %s\n", cfg.Reputation.Backend, storeLocation(cfg), storeState)
	fmt.Fprintf(tw, "dry run:\t%v\n", cfg.Policy.DryRun)
	tw.Flush()

	fmt.Fprintln(stdout, "\nDNS servers and source ports (some firewalls drop DNS from low source ports: unexplained SERVFAIL):")
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tPROBE\tPORT\tRESULT")
	if os.Geteuid() != 0 {
		fmt.Fprintln(stdout, "note: not root: the port 53 and port < 1024 probes need root and will say so")
	}
	for _, srv := range rt.resolver.Servers() {
		probes, err := dnsrep.ProbeSourcePorts(ctx, srv)
		if err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t%v\n", srv, err)
			continue
		}
		for _, p := range probes {
			res := "answered " + p.Rcode
			if !p.Answered {
				res = "NO ANSWER: " + p.Problem
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", srv, p.Kind, p.Port, res)
		}
	}
	tw.Flush()

	fmt.Fprintln(stdout, "\nBlocklists (RFC 5782 test points):")
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LIST\tZONE\tHEALTH")
	unhealthy := 0
	for _, h := range rt.engine.ListHealth(ctx) {
		state := "ok"
		switch {
		case h.Unanswered:
			// No answer says nothing about the list: the daemon keeps
			// using it (and probes again soon); the DNS path is at fault.
			state = "NO ANSWER (list still used; check dns.servers): " + h.Problem
		case !h.Healthy:
			state = "UNHEALTHY: " + h.Problem
			unhealthy++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", h.List, h.Zone, state)
	}
	tw.Flush()
	if unhealthy > 0 {
		fmt.Fprintf(stdout, "\n%d list(s) unhealthy: they are skipped (symbol <NAME>_UNHEALTHY) until a probe succeeds.\n", unhealthy)
	}
	return nil
}

func orDefault(p string) string {
	if p == "" {
		return "(built-in defaults)"
	}
	return p
}

func storeLocation(c config.Config) string {
	if c.Reputation.Backend == "redis" {
		return c.Reputation.Redis.Addr
	}
	return c.Reputation.Path
}

// cmdFlushDNS asks the running daemon (through its admin listener) to drop
// its DNS cache. SIGHUP does the same.
func cmdFlushDNS(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("flush-dns", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file of the running daemon")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.Admin.Listen == "" {
		return usagef("flush-dns: admin.listen is not set in the config; send SIGHUP to the daemon instead")
	}
	token, err := adminToken(cfg)
	if err != nil {
		return usageError{err}
	}
	req, err := http.NewRequest("POST", "http://"+cfg.Admin.Listen+"/dns/flush", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("flush-dns: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("flush-dns: daemon answered %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	stdout.Write(body)
	return nil
}

// adminToken returns admin.token, or the first line of admin.token_file.
func adminToken(c config.Config) (string, error) {
	if c.Admin.TokenFile != "" {
		b, err := os.ReadFile(c.Admin.TokenFile)
		if err != nil {
			return "", fmt.Errorf("admin.token_file: %w", err)
		}
		t, _, _ := strings.Cut(string(b), "\n")
		t = strings.TrimSpace(t)
		if t == "" {
			return "", fmt.Errorf("admin.token_file: %s is empty", c.Admin.TokenFile)
		}
		return t, nil
	}
	return c.Admin.Token, nil
}
