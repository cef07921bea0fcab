package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// Repeated marks the flag as repeatable in the synopsis.
func (m *multiFlag) Repeated() bool { return true }

type checkOpts struct {
	config, ip, helo, from, clientName string
	json                               bool
	rcpts                              multiFlag
}

func (o *checkOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", configFlagUsage)
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.StringVar(&o.ip, "ip", "", "the client IP `ADDR` the message came from")
	fs.StringVar(&o.helo, "helo", "", "the HELO/EHLO `NAME` the client gave")
	fs.StringVar(&o.from, "from", "", "the envelope sender `ADDR` (MAIL FROM)")
	fs.StringVar(&o.clientName, "client-name", "", "the verified reverse DNS `NAME` of the client")
	fs.Var(&o.rcpts, "rcpt", "an envelope recipient `ADDR` (repeat for several)")
}

func cmdCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o checkOpts
	fs := newFlagSet("check")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usagef("check: one message at a time (got %d files)", fs.NArg())
	}
	var client netip.Addr
	if o.ip != "" {
		a, err := netip.ParseAddr(strings.TrimPrefix(o.ip, "IPv6:"))
		if err != nil {
			return usagef("check: --ip %q: not an IP address", o.ip)
		}
		client = a.Unmap()
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	in := stdin
	name := "-"
	if fs.NArg() == 1 && fs.Arg(0) != "-" {
		name = fs.Arg(0)
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		defer f.Close()
		in = f
	}
	m, err := filters.ParseMessageWith(in, cfg.MessageLimits())
	if err != nil {
		return fmt.Errorf("check: %s: %w", name, err)
	}
	m.Envelope = filters.Envelope{
		ClientIP:   client,
		ClientName: strings.TrimSuffix(strings.ToLower(o.clientName), "."),
		Helo:       o.helo,
		MailFrom:   strings.Trim(o.from, "<>"),
		Rcpts:      o.rcpts,
	}
	rt, _, done, err := openRuntime(cfg, log, true)
	if err != nil {
		return err
	}
	defer done()
	v := rt.engine.Judge(context.Background(), m)
	rep := filters.NewReport(m, v)
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(stdout)
}
