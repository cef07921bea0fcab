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

// cmdLoad drives a milter (Vigil or any other) the way an MTA does, one
// milter session per message from N concurrent connections, and reports
// messages/s and latency percentiles. It only dials loopback addresses.
func cmdLoad(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:11340", "milter address (loopback only) or unix socket path with --unix")
	unix := fs.Bool("unix", false, "addr is a unix socket path")
	conns := fs.Int("conns", 16, "concurrent milter connections")
	messages := fs.Int("messages", 0, "messages to send (0: run for --duration)")
	duration := fs.Duration("duration", 10*time.Second, "how long to run when --messages is 0")
	ip := fs.String("ip", "203.0.113.9", "client IP the MTA reports")
	from := fs.String("from", "sender@example.test", "envelope sender")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	network := "tcp"
	if *unix {
		network = "unix"
	} else {
		host, _, err := net.SplitHostPort(*addr)
		if err != nil {
			return usagef("load: --addr %q: %v", *addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return usagef("load: --addr %q: only loopback addresses are load-tested", *addr)
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
	o := loadgen.Options{Network: network, Addr: *addr, Conns: *conns, Messages: *messages, Message: msg, ClientIP: *ip, From: *from}
	if *messages == 0 {
		o.Duration = *duration
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{
			"messages": res.Messages, "errors": res.Errors, "per_second": res.PerSecond,
			"p50_ms": res.P50.Seconds() * 1000, "p99_ms": res.P99.Seconds() * 1000, "max_ms": res.Max.Seconds() * 1000,
			"actions": res.Actions,
		})
	}
	fmt.Fprintln(stdout, res.String())
	if res.Errors > 0 && res.FirstError != nil {
		fmt.Fprintln(stderr, "first error:", res.FirstError)
	}
	return nil
}
