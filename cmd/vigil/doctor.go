package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters/store"
)

type doctorOpts struct{ config string }

func (o *doctorOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", configFlagUsage)
}

// errChecksFailed ends doctor with exit status 1; the findings printed
// are the message.
var errChecksFailed = errors.New("doctor: checks failed")

// severity orders findings: only fail makes doctor exit 1.
type severity int

const (
	sevOK   severity = iota
	sevNote          // worth knowing, nothing wrong (a store in use, a probe that needs root)
	sevWarn          // works, but something is off
	sevFail          // broken: mail is judged without it, or not at all
)

func (s severity) String() string {
	return [...]string{"ok", "note", "WARN", "FAIL"}[s]
}

// finding is one line of the doctor's report.
type finding struct {
	sev   severity
	label dnsrep.Failure // what happened, for warn and fail
	cols  []string       // what was checked: one or more table columns
	text  string         // the detail
}

// report collects the findings, section by section, and prints each once.
type report struct {
	w            io.Writer
	fails, warns int
}

func (r *report) section(title string, header []string, fs []finding) {
	fmt.Fprintf(r.w, "\n%s\n", title)
	tw := tabwriter.NewWriter(r.w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  RESULT\t%s\tDETAIL\n", strings.Join(header, "\t"))
	for _, f := range fs {
		res := f.sev.String()
		if f.label != "" {
			res += " " + string(f.label)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", res, strings.Join(f.cols, "\t"), f.text)
		switch f.sev {
		case sevFail:
			r.fails++
		case sevWarn:
			r.warns++
		}
	}
	tw.Flush()
}

// cmdDoctor checks what an operator needs to know before trusting Vigil:
// the checks by stage, the reputation store, the DNS servers (with the
// source-port check) and every blocklist. It exits 1 when any check
// failed. It never creates or changes anything: the daemon's files stay
// the daemon's, whoever runs doctor.
func cmdDoctor(args []string, stdout, stderr io.Writer) error {
	var o doctorOpts
	fs := newFlagSet("doctor")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("doctor: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Every problem is a finding in the report below; the checks' own log
	// lines would print the same problems a second time.
	log := slog.New(slog.DiscardHandler)
	routeLibraryLogs(log)

	st, storeFinding := doctorStore(ctx, cfg)
	if st != nil {
		defer st.Close()
	}
	rt, err := build(cfg, log, st)
	if err != nil {
		return err
	}
	defer rt.close()

	r := &report{w: stdout}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "config:\t%s\n", orDefault(o.config))
	fmt.Fprintf(tw, "version:\t%s\n", readBuildInfo().Version)
	fmt.Fprintf(tw, "milter:\t%s\n", cfg.Milter.Listen)
	fmt.Fprintf(tw, "dry run:\t%v\n", cfg.Policy.DryRun)
	fmt.Fprintf(tw, "link following:\t%v\n", cfg.Follow.Enabled)
	checks := rt.engine.Pipeline().Checks()
	for _, stage := range []string{"auth", "links", "policy", "reputation"} {
		line := strings.Join(checks[stage], ", ")
		if stage == "reputation" && st == nil {
			line += " (the store is not open here: reputation and bayes not listed)"
		}
		fmt.Fprintf(tw, "stage %s:\t%s\n", stage, line)
	}
	tw.Flush()

	r.section("Reputation store:", []string{"BACKEND", "WHERE"}, []finding{storeFinding})

	title := "DNS servers and source ports (some firewalls drop DNS from low source ports: unexplained SERVFAIL):"
	if os.Geteuid() != 0 {
		title += "\n  (not root: the port 53 and port < 1024 probes need root and say so)"
	}
	r.section(title, []string{"SERVER", "PROBE", "PORT"}, dnsFindings(ctx, rt.resolver.Servers()))

	r.section("Blocklists (RFC 5782 test points; a failing list is skipped, symbol <NAME>_UNHEALTHY, until a probe succeeds):",
		[]string{"LIST", "ZONE"}, listFindings(rt.engine.ListHealth(ctx)))

	fmt.Fprintf(stdout, "\n%d failed, %d warning(s)", r.fails, r.warns)
	if r.fails > 0 {
		fmt.Fprintln(stdout, ": exit status 1")
		return errChecksFailed
	}
	fmt.Fprintln(stdout)
	return nil
}

// doctorStore checks the reputation store and returns it open (for the
// stage listing) when it could be opened without creating anything.
func doctorStore(ctx context.Context, c config.Config) (store.Store, finding) {
	if c.Reputation.Backend == "redis" {
		return doctorRedis(ctx, c)
	}
	return doctorBolt(c)
}

// doctorRedis sends PING with the configured mode, servers, database and
// credentials: the same options the daemon connects with. In a cluster
// every master answers; with sentinels, the master they name.
func doctorRedis(ctx context.Context, c config.Config) (store.Store, finding) {
	rc := c.Reputation.Redis
	where := strings.Join(rc.Servers(), ",")
	if rc.Mode != store.ModeStandalone {
		where = rc.Mode + " " + where
	}
	f := finding{cols: []string{"redis", where}}
	s, err := store.OpenRedis(c.Reputation.Config)
	if err != nil {
		f.sev, f.label, f.text = sevFail, dnsrep.FailOther, err.Error()
		return nil, f
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		f.sev, f.text = sevFail, err.Error()
		switch {
		case redis.IsAuthError(err):
			f.label = "auth failed"
			f.text += " (reputation.redis.username, password)"
		default:
			f.label = dnsrep.TransportFailure(err)
		}
		return s, f
	}
	switch rc.Mode {
	case store.ModeCluster:
		f.text = "PING answered by every master"
	case store.ModeSentinel:
		f.text = fmt.Sprintf("PING answered by the master the sentinels name for %q", rc.MasterName)
	default:
		f.text = "PING answered"
	}
	return s, f
}

// doctorBolt opens the bbolt file if it exists. It never creates it: run
// as root, doctor would leave a file the daemon's user cannot open. A
// running daemon holds bbolt's lock (one process at a time); that is the
// normal state of a live system, not a failure.
func doctorBolt(c config.Config) (store.Store, finding) {
	path := filepath.Join(c.Reputation.Path, store.BoltFile)
	f := finding{cols: []string{"bbolt", path}}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if st, derr := os.Stat(c.Reputation.Path); derr != nil || !st.IsDir() {
			f.sev, f.label = sevFail, "missing"
			f.text = fmt.Sprintf("neither the file nor reputation.path %s exists; vigil serve creates the file but needs the directory writable (the package creates it)", c.Reputation.Path)
			return nil, f
		}
		f.sev, f.text = sevNote, "not created yet: vigil serve creates it at its first start"
		return nil, f
	}
	s, err := store.OpenBolt(c.Reputation.Path, time.Duration(c.Reputation.HalfLife), time.Second)
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		f.sev, f.text = sevNote, "in use: locked by a running vigil serve (bbolt allows one process); not checked further"
		return nil, f
	case errors.Is(err, fs.ErrPermission):
		f.sev, f.label, f.text = sevFail, "permission denied", err.Error()
		return nil, f
	case err != nil:
		f.sev, f.label, f.text = sevFail, "cannot open", err.Error()
		return nil, f
	}
	f.text = "opens read-write"
	return s, f
}

// dnsFindings probes every DNS server from three kinds of source port.
// Only the high port is what the resolver itself uses: its failure is a
// failure; the low ports only warn.
func dnsFindings(ctx context.Context, servers []string) []finding {
	var out []finding
	for _, srv := range servers {
		probes, err := dnsrep.ProbeSourcePorts(ctx, srv)
		if err != nil {
			out = append(out, finding{sev: sevFail, label: dnsrep.FailOther, cols: []string{srv, "-", "-"}, text: err.Error()})
			continue
		}
		for _, p := range probes {
			f := finding{cols: []string{srv, p.Kind, fmt.Sprint(p.Port)}}
			highPort := p.Kind == "high port"
			switch {
			case p.Answered && p.Rcode == "NOERROR":
				f.text = fmt.Sprintf("answered NOERROR in %s", p.RTT.Round(time.Microsecond))
			case p.Answered && p.Rcode == "REFUSED":
				f.sev, f.label, f.text = sevFail, dnsrep.FailQueryRefused, "the server refuses to answer this host (does it recurse for it?)"
			case p.Answered:
				f.sev, f.label, f.text = sevWarn, dnsrep.Failure(strings.ToLower(p.Rcode)), "answered "+p.Rcode+" for the root NS set"
			case p.Failure == dnsrep.FailNeedsRoot:
				f.sev, f.text = sevNote, p.Problem
			case highPort:
				f.sev, f.label, f.text = sevFail, p.Failure, p.Problem
			default:
				f.sev, f.label, f.text = sevWarn, p.Failure, p.Problem
				if p.Failure == dnsrep.FailTimeout {
					f.text += " (a firewall dropping low source ports looks like this)"
				}
			}
			out = append(out, f)
		}
	}
	return out
}

func listFindings(hs []dnsrep.ListHealth) []finding {
	var out []finding
	for _, h := range hs {
		f := finding{cols: []string{h.List, h.Zone}}
		switch {
		case h.Healthy:
			f.text = "test points answer as RFC 5782 §5 says"
		case h.Unanswered:
			// No answer says nothing about the list: the daemon keeps
			// using it (and probes again soon); the DNS path is at fault.
			f.sev, f.label, f.text = sevFail, h.Failure, h.Problem+" (the daemon keeps using the list; check dns.servers)"
		default:
			f.sev, f.label, f.text = sevFail, h.Failure, h.Problem
		}
		out = append(out, f)
	}
	return out
}

func orDefault(p string) string {
	if p == "" {
		return "(built-in defaults)"
	}
	return p
}

type flushOpts struct {
	config string
	json   bool
}

func (o *flushOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", "the running daemon's configuration `FILE` (for admin.listen and its token)")
	fs.BoolVar(&o.json, "json", false, "print the daemon's JSON answer")
}

// cmdFlushDNS asks the running daemon (through its admin listener) to drop
// its DNS cache. SIGHUP does the same.
func cmdFlushDNS(args []string, stdout, stderr io.Writer) error {
	var o flushOpts
	fs := newFlagSet("flush-dns")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(o.config)
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
	var res struct {
		Flushed *int `json:"flushed"`
	}
	body, err := adminPost(cfg.Admin.Listen, "/dns/flush", token, &res)
	if err != nil {
		return fmt.Errorf("flush-dns: %w", err)
	}
	if o.json {
		_, err := stdout.Write(body)
		return err
	}
	if res.Flushed == nil {
		return fmt.Errorf("flush-dns: the daemon's answer has no count: %s", strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(stdout, "DNS cache flushed: %d cached answers dropped (daemon at %s)\n", *res.Flushed, cfg.Admin.Listen)
	return nil
}
