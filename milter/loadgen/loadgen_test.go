package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/d--j/go-milter"
)

const testMessage = "From: Alice <alice@example.test>\n" +
	"To: inbox@example.test\n" +
	"Subject: load\n" +
	"Received: from a by b;\n" +
	"\tSat, 28 Nov 2026 06:00:00 +0000\n" +
	"Message-ID: <1@example.test>\n" +
	"\n" +
	"Hello,\n" +
	"this is the body.\n"

// seen is what the test milter observed in one session.
type seen struct {
	addr, helo, from, clientAddrMacro, queueID string
	rcpts                                      []string
	headers                                    []string
	bodyBytes                                  int
}

// nullMilter reads everything, accepts and adds one header: the baseline
// against which a real milter's cost is measured.
type nullMilter struct {
	milter.NoOpMilter
	cur    seen
	record func(seen)
	// eom overrides the end-of-message answer when set.
	eom func(m milter.Modifier) (*milter.Response, error)
}

func (n *nullMilter) Connect(host, family string, port uint16, addr string, m milter.Modifier) (*milter.Response, error) {
	n.cur = seen{addr: addr, clientAddrMacro: m.Get(milter.MacroClientAddr)}
	return milter.RespContinue, nil
}

func (n *nullMilter) Helo(name string, m milter.Modifier) (*milter.Response, error) {
	n.cur.helo = name
	return milter.RespContinue, nil
}

func (n *nullMilter) MailFrom(from, args string, m milter.Modifier) (*milter.Response, error) {
	n.cur.from = from
	return milter.RespContinue, nil
}

func (n *nullMilter) RcptTo(rcpt, args string, m milter.Modifier) (*milter.Response, error) {
	n.cur.rcpts = append(n.cur.rcpts, rcpt)
	return milter.RespContinue, nil
}

func (n *nullMilter) Header(name, value string, m milter.Modifier) (*milter.Response, error) {
	n.cur.headers = append(n.cur.headers, name+": "+value)
	return milter.RespContinue, nil
}

func (n *nullMilter) BodyChunk(chunk []byte, m milter.Modifier) (*milter.Response, error) {
	n.cur.bodyBytes += len(chunk)
	return milter.RespContinue, nil
}

func (n *nullMilter) EndOfMessage(m milter.Modifier) (*milter.Response, error) {
	n.cur.queueID = m.Get(milter.MacroQueueId)
	if n.record != nil {
		n.record(n.cur)
	}
	if n.eom != nil {
		return n.eom(m)
	}
	if err := m.AddHeader("X-Null-Milter", "yes"); err != nil {
		return nil, err
	}
	return milter.RespAccept, nil
}

// startMilter serves newMilter on a loopback port until the test ends.
func startMilter(tb testing.TB, newMilter func() milter.Milter) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := milter.NewServer(
		milter.WithMilter(newMilter),
		milter.WithActions(milter.OptAddHeader|milter.OptChangeHeader|milter.OptQuarantine),
		// No replies to the events before end of message, as vigil
		// negotiates: the baseline then costs the same round trips.
		milter.WithProtocols(milter.OptNoConnReply|milter.OptNoHeloReply|milter.OptNoMailReply|
			milter.OptNoRcptReply|milter.OptNoDataReply|milter.OptNoHeaderReply|
			milter.OptNoEOHReply|milter.OptNoUnknownReply),
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				tb.Errorf("milter server panic: %v", r)
			}
		}()
		_ = srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return ln.Addr().String()
}

func TestSplitMessage(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		headers []field
		body    string
		wantErr bool
	}{
		{
			name:    "folded header and LF endings",
			msg:     "A: 1\nB: two\n\tlines\n\nbody\n",
			headers: []field{{"A", "1"}, {"B", "two\r\n\tlines"}},
			body:    "body\r\n",
		},
		{
			name:    "CRLF already",
			msg:     "A: 1\r\n\r\nx\r\ny\r\n",
			headers: []field{{"A", "1"}},
			body:    "x\r\ny\r\n",
		},
		{
			name:    "no body",
			msg:     "A: 1\n",
			headers: []field{{"A", "1"}},
			body:    "",
		},
		{
			name:    "no header",
			msg:     "\nbody only\n",
			headers: nil,
			body:    "body only\r\n",
		},
		{
			name:    "value without space after colon",
			msg:     "A:1\n\n",
			headers: []field{{"A", "1"}},
		},
		{name: "continuation first", msg: " x\n\n", wantErr: true},
		{name: "no colon", msg: "not a header\n\n", wantErr: true},
		{name: "space in name", msg: "Bad Name: x\n\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers, body, err := splitMessage([]byte(tt.msg))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("splitMessage(%q) = nil error, want an error", tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(headers) != len(tt.headers) {
				t.Fatalf("headers = %q, want %q", headers, tt.headers)
			}
			for i := range headers {
				if headers[i] != tt.headers[i] {
					t.Errorf("header %d = %q, want %q", i, headers[i], tt.headers[i])
				}
			}
			if string(body) != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
		})
	}
}

func TestOptionsRejected(t *testing.T) {
	good := Options{Addr: "127.0.0.1:1", Messages: 1, Message: []byte(testMessage)}
	tests := []struct {
		name   string
		modify func(o *Options)
		want   string
	}{
		{"no address", func(o *Options) { o.Addr = "" }, "no milter address"},
		{"bad network", func(o *Options) { o.Network = "udp" }, "network"},
		{"negative conns", func(o *Options) { o.Conns = -1 }, "conns"},
		{"negative messages", func(o *Options) { o.Messages = -1 }, "messages"},
		{"no bound", func(o *Options) { o.Messages = 0 }, "set messages or duration"},
		{"negative duration", func(o *Options) { o.Duration = -time.Second }, "duration"},
		{"empty message", func(o *Options) { o.Message = nil }, "empty message"},
		{"bad client ip", func(o *Options) { o.ClientIP = "300.1.1.1" }, "client ip"},
		{"bad header", func(o *Options) { o.Message = []byte("no colon here\n\nbody") }, "malformed header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.modify(&o)
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestRunNullMilter(t *testing.T) {
	var mu sync.Mutex
	var sessions []seen
	addr := startMilter(t, func() milter.Milter {
		return &nullMilter{record: func(s seen) {
			mu.Lock()
			sessions = append(sessions, s)
			mu.Unlock()
		}}
	})
	const n = 100
	res, err := Run(context.Background(), Options{
		Addr:     addr,
		Conns:    16,
		Messages: n,
		Message:  []byte(testMessage),
		Rcpts:    []string{"a@example.test", "b@example.test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res)
	if res.Messages != n || res.Errors != 0 {
		t.Fatalf("messages %d errors %d (first %v), want %d and 0", res.Messages, res.Errors, res.FirstError, n)
	}
	if res.Actions["accept"] != n || res.Modifications["add_header"] != n {
		t.Errorf("actions %v modifications %v, want %d accept and %d add_header", res.Actions, res.Modifications, n, n)
	}
	if res.P50 <= 0 || res.P99 < res.P50 || res.Max < res.P99 || res.PerSecond <= 0 {
		t.Errorf("inconsistent measurements: %+v", res)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(sessions) != n {
		t.Fatalf("milter saw %d messages, want %d", len(sessions), n)
	}
	ids := map[string]bool{}
	for _, s := range sessions {
		ids[s.queueID] = true
		if s.addr != "203.0.113.9" || s.clientAddrMacro != "203.0.113.9" {
			t.Fatalf("client address %q, macro {client_addr} %q, want 203.0.113.9", s.addr, s.clientAddrMacro)
		}
		if s.helo != "client.example.test" || s.from != "sender@example.test" {
			t.Fatalf("helo %q from %q", s.helo, s.from)
		}
		if strings.Join(s.rcpts, ",") != "a@example.test,b@example.test" {
			t.Fatalf("rcpts %q", s.rcpts)
		}
		if len(s.headers) != 5 || s.headers[0] != "From: Alice <alice@example.test>" {
			t.Fatalf("headers %q", s.headers)
		}
		if want := len("Hello,\r\nthis is the body.\r\n"); s.bodyBytes != want {
			t.Fatalf("body %d bytes, want %d", s.bodyBytes, want)
		}
	}
	if len(ids) != n {
		t.Errorf("%d distinct queue ids (macro i) for %d messages", len(ids), n)
	}
}

func TestRunCountsVerdicts(t *testing.T) {
	tests := []struct {
		name string
		eom  func(m milter.Modifier) (*milter.Response, error)
		want string
	}{
		{"reject with code", func(milter.Modifier) (*milter.Response, error) {
			return milter.RejectWithCodeAndReason(550, "5.7.1 spam")
		}, "reject_with_code"},
		{"tempfail with code", func(milter.Modifier) (*milter.Response, error) {
			return milter.RejectWithCodeAndReason(451, "4.7.1 later")
		}, "tempfail_with_code"},
		{"plain reject", func(milter.Modifier) (*milter.Response, error) { return milter.RespReject, nil }, "reject"},
		{"discard", func(milter.Modifier) (*milter.Response, error) { return milter.RespDiscard, nil }, "discard"},
		{"quarantine", func(m milter.Modifier) (*milter.Response, error) {
			return milter.RespAccept, m.Quarantine("suspicious")
		}, "accept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := startMilter(t, func() milter.Milter { return &nullMilter{eom: tt.eom} })
			res, err := Run(context.Background(), Options{Addr: addr, Conns: 4, Messages: 8, Message: []byte(testMessage)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Actions[tt.want] != 8 || res.Errors != 0 {
				t.Fatalf("actions %v errors %d (%v), want 8 %s", res.Actions, res.Errors, res.FirstError, tt.want)
			}
			if tt.name == "quarantine" && res.Modifications["quarantine"] != 8 {
				t.Errorf("modifications %v, want 8 quarantine", res.Modifications)
			}
		})
	}
}

func TestCheckReportsHeaders(t *testing.T) {
	addr := startMilter(t, func() milter.Milter { return &nullMilter{} })
	out, err := Check(context.Background(), Options{Addr: addr, Message: []byte(testMessage)})
	if err != nil {
		t.Fatal(err)
	}
	if ActionName(out.Action) != "accept" || len(out.Modifications) != 1 ||
		out.Modifications[0].HeaderName != "X-Null-Milter" || out.Modifications[0].HeaderValue != "yes" {
		t.Fatalf("outcome %v %v, want accept with X-Null-Milter: yes", out.Action, out.Modifications)
	}
}

func TestRunNoMilter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there any more
	res, err := Run(context.Background(), Options{Addr: addr, Conns: 2, Messages: 4, Message: []byte(testMessage), Timeout: 2 * time.Second})
	if err == nil {
		t.Fatalf("Run against a closed port: nil error, result %v", res)
	}
	if res.Errors != 4 || res.Messages != 0 {
		t.Errorf("errors %d messages %d, want 4 and 0", res.Errors, res.Messages)
	}
}

// A peer that accepts and then says nothing must not hang the run: the
// read timeout ends each session with an error.
func TestRunSilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	res, err := Run(context.Background(), Options{Addr: ln.Addr().String(), Conns: 2, Messages: 2,
		Message: []byte(testMessage), Timeout: 200 * time.Millisecond})
	if err == nil || res.Errors != 2 {
		t.Fatalf("Run against a silent peer: err %v, errors %d, want an error for each of 2 sessions", err, res.Errors)
	}
}

// A milter that stalls mid-session must not keep Run past its context.
func TestRunStopsWithContext(t *testing.T) {
	release := make(chan struct{})
	addr := startMilter(t, func() milter.Milter {
		return &nullMilter{eom: func(milter.Modifier) (*milter.Response, error) {
			<-release
			return milter.RespAccept, nil
		}}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's shutdown
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, Options{Addr: addr, Conns: 3, Duration: time.Hour, Message: []byte(testMessage)})
	if err != nil {
		t.Fatalf("Run cut off by its context: %v", err)
	}
	if res.Messages != 0 || res.Errors != 0 {
		t.Errorf("messages %d errors %d, want 0 and 0 (sessions cut off by the context are not failures)", res.Messages, res.Errors)
	}
}

func TestRunDuration(t *testing.T) {
	addr := startMilter(t, func() milter.Milter { return &nullMilter{} })
	res, err := Run(context.Background(), Options{Addr: addr, Conns: 4, Duration: 200 * time.Millisecond, Message: []byte(testMessage)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages == 0 || res.Errors != 0 {
		t.Fatalf("messages %d errors %d (%v), want some messages and no errors", res.Messages, res.Errors, res.FirstError)
	}
}

func TestPercentile(t *testing.T) {
	d := func(n int) []time.Duration {
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(i + 1)
		}
		return s
	}
	tests := []struct {
		n, p int
		want time.Duration
	}{
		{1, 50, 1}, {1, 99, 1}, {100, 50, 50}, {100, 99, 99}, {10, 99, 10}, {200, 99, 198},
	}
	for _, tt := range tests {
		if got := percentile(d(tt.n), tt.p); got != tt.want {
			t.Errorf("percentile(1..%d, %d) = %d, want %d", tt.n, tt.p, got, tt.want)
		}
	}
}

// BenchmarkNullMilter16 measures the harness against a milter that does
// nothing but accept and add a header, at 16 concurrent sessions: the
// ceiling any real milter is compared with.
func BenchmarkNullMilter16(b *testing.B) {
	addr := startMilter(b, func() milter.Milter { return &nullMilter{} })
	b.ResetTimer()
	res, err := Run(context.Background(), Options{Addr: addr, Conns: 16, Messages: b.N, Message: []byte(testMessage)})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors != 0 {
		b.Fatalf("%d errors: %v", res.Errors, res.FirstError)
	}
	b.ReportMetric(res.PerSecond, "msgs/s")
	b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
}

// TestHelperNullMilterProcess is not a test: BenchmarkNullMilter16Process
// runs the test binary again with MILTERTEST_NULL_MILTER=1 to serve the null
// milter from its own process, so that the baseline does not share a Go
// runtime (scheduler, GC) with the load generator, as the real vigil does not.
// It prints the address and serves until its stdin is closed.
func TestHelperNullMilterProcess(t *testing.T) {
	if os.Getenv("MILTERTEST_NULL_MILTER") != "1" {
		return // not a skip: nothing was left untested (os/exec's helper-process idiom)
	}
	addr := startMilter(t, func() milter.Milter { return &nullMilter{} })
	fmt.Println(addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// BenchmarkNullMilter16Process is BenchmarkNullMilter16 with the null milter
// in a separate process: the figure to compare the vigil binary with.
func BenchmarkNullMilter16Process(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Skip(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperNullMilterProcess$")
	cmd.Env = append(os.Environ(), "MILTERTEST_NULL_MILTER=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("helper process: %v", err)
	}
	addr := strings.TrimSpace(line)
	b.ResetTimer()
	res, err := Run(context.Background(), Options{Addr: addr, Conns: 16, Messages: b.N, Message: []byte(testMessage)})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if res.Errors != 0 || res.Modifications["add_header"] != b.N {
		b.Fatalf("%d errors (%v), modifications %v", res.Errors, res.FirstError, res.Modifications)
	}
	b.ReportMetric(res.PerSecond, "msgs/s")
	b.ReportMetric(float64(res.P50.Microseconds()), "p50-µs")
	b.ReportMetric(float64(res.P99.Microseconds()), "p99-µs")
}

// TestVerdict: the load report names a tag a tag (an accept that adds
// X-Spam-Flag: YES) and a quarantine a quarantine, not "accept".
func TestVerdict(t *testing.T) {
	accept := milter.Action{Type: milter.ActionAccept}
	flag := milter.ModifyAction{Type: milter.ActionAddHeader, HeaderName: "X-Spam-Flag", HeaderValue: " YES"}
	status := milter.ModifyAction{Type: milter.ActionAddHeader, HeaderName: "X-Spam-Status", HeaderValue: "No, score=1"}
	tests := []struct {
		name string
		out  Outcome
		want string
	}{
		{"accept, headers only", Outcome{Action: accept, Modifications: []milter.ModifyAction{status}}, "accept"},
		{"accept with X-Spam-Flag: YES", Outcome{Action: accept, Modifications: []milter.ModifyAction{status, flag}}, "tag"},
		{"inserted flag, other case", Outcome{Action: milter.Action{Type: milter.ActionContinue}, Modifications: []milter.ModifyAction{{Type: milter.ActionInsertHeader, HeaderName: "x-spam-flag", HeaderValue: "yes"}}}, "tag"},
		{"quarantine", Outcome{Action: accept, Modifications: []milter.ModifyAction{flag, {Type: milter.ActionQuarantine, Reason: "spam"}}}, "quarantine"},
		{"reject with code", Outcome{Action: milter.Action{Type: milter.ActionRejectWithCode, SMTPCode: 550}}, "reject"},
		{"tempfail with code", Outcome{Action: milter.Action{Type: milter.ActionRejectWithCode, SMTPCode: 451}}, "tempfail"},
		{"plain tempfail", Outcome{Action: milter.Action{Type: milter.ActionTempFail}}, "tempfail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Verdict(tt.out); got != tt.want {
				t.Errorf("Verdict = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCheckHeaderOnly: a message with no blank line after its header (no
// body at all) still goes through a whole milter session.
func TestCheckHeaderOnly(t *testing.T) {
	addr := startMilter(t, func() milter.Milter { return &nullMilter{} })
	for _, msg := range []string{"From: a@b.example\r\nSubject: x\r\n", "From: a@b.example\nSubject: x", "From: a@b.example\r\n\r\n"} {
		out, err := Check(context.Background(), Options{Addr: addr, Message: []byte(msg)})
		if err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		if ActionName(out.Action) != "accept" {
			t.Fatalf("%q: action %s, want accept", msg, ActionName(out.Action))
		}
	}
}
