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

func cmdCheck(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: built-in defaults)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	ip := fs.String("ip", "", "client IP address the message came from")
	helo := fs.String("helo", "", "HELO/EHLO name")
	from := fs.String("from", "", "envelope sender (MAIL FROM)")
	clientName := fs.String("client-name", "", "verified reverse DNS name of the client")
	var rcpts multiFlag
	fs.Var(&rcpts, "rcpt", "envelope recipient (repeatable)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 1 {
		return usagef("check: one message at a time (got %d files)", fs.NArg())
	}
	var client netip.Addr
	if *ip != "" {
		a, err := netip.ParseAddr(strings.TrimPrefix(*ip, "IPv6:"))
		if err != nil {
			return usagef("check: --ip %q: not an IP address", *ip)
		}
		client = a.Unmap()
	}
	cfg, err := loadConfig(*cfgPath)
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
		ClientName: strings.TrimSuffix(strings.ToLower(*clientName), "."),
		Helo:       *helo,
		MailFrom:   strings.Trim(*from, "<>"),
		Rcpts:      rcpts,
	}
	rt, _, done, err := openRuntime(cfg, log, true)
	if err != nil {
		return err
	}
	defer done()
	v := rt.engine.Judge(context.Background(), m)
	rep := filters.NewReport(m, v)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(stdout)
}
