package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"time"

	"github.com/vigilmail/vigil/milter/loadgen"
)

// defaultLoadMessage is a small, ordinary message for load runs.
const defaultLoadMessage = "From: Sender <sender@example.test>\r\nTo: inbox@example.test\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <load@example.test>\r\nSubject: load test\r\n\r\nHello, this is a load test message with a link https://www.example.test/page.\r\n"

type loadOpts struct {
	addr, ip, from  string
	unix, json      bool
	conns, messages int
	duration        time.Duration
}

func (o *loadOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "127.0.0.1:11340", "the milter's `HOST:PORT` (loopback only), or its socket path with --unix")
	fs.BoolVar(&o.unix, "unix", false, "--addr is a unix socket path")
	fs.IntVar(&o.conns, "conns", 16, "concurrent milter connections (`N`)")
	fs.IntVar(&o.messages, "messages", 0, "send `N` messages (0: run for --duration)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run when --messages is 0 (`D`, e.g. 30s)")
	fs.StringVar(&o.ip, "ip", "203.0.113.9", "the client IP `ADDR` the MTA reports")
	fs.StringVar(&o.from, "from", "sender@example.test", "the envelope sender `ADDR`")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
}

// cmdLoad drives a milter (Vigil or any other) the way an MTA does, one
// milter session per message from N concurrent connections, and reports
// messages/s and latency percentiles. It only dials loopback addresses.
func cmdLoad(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var o loadOpts
	fs := newFlagSet("load")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	network := "tcp"
	if o.unix {
		network = "unix"
	} else {
		host, _, err := net.SplitHostPort(o.addr)
		if err != nil {
			return usagef("load: --addr %q: %v", o.addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return usagef("load: --addr %q: only loopback addresses are load-tested", o.addr)
		}
	}
	msg := []byte(defaultLoadMessage)
	if fs.NArg() == 1 {
		var err error
		if fs.Arg(0) == "-" {
			msg, err = io.ReadAll(stdin)
		} else {
			msg, err = os.ReadFile(fs.Arg(0))
		}
		if err != nil {
			return fmt.Errorf("load: %w", err)
		}
	} else if fs.NArg() > 1 {
		return usagef("load: one message file at most")
	}
	mo := loadgen.Options{Network: network, Addr: o.addr, Conns: o.conns, Messages: o.messages, Message: msg, ClientIP: o.ip, From: o.from}
	if o.messages == 0 {
		mo.Duration = o.duration
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadgen.Run(ctx, mo)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"messages": res.Messages, "errors": res.Errors, "per_second": res.PerSecond,
			"p50_ms": res.P50.Seconds() * 1000, "p99_ms": res.P99.Seconds() * 1000, "max_ms": res.Max.Seconds() * 1000,
			"actions": res.Actions, "verdicts": res.Verdicts,
		})
	}
	fmt.Fprintln(stdout, res.String())
	if res.Errors > 0 && res.FirstError != nil {
		fmt.Fprintln(stderr, "first error:", res.FirstError)
	}
	return nil
}
