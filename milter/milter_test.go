package milter

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/filters"
)

// testEngine scores a message by its Subject: "score N" yields a TEST_SCORE
// symbol worth N; "panic" makes the engine panic. It records every message.
type testEngine struct {
	policy filters.Policy
	mu     sync.Mutex
	seen   []*filters.Message
}

func (e *testEngine) Judge(ctx context.Context, m *filters.Message) filters.Verdict {
	e.mu.Lock()
	e.seen = append(e.seen, m)
	e.mu.Unlock()
	subj := m.Header("Subject")
	if subj == "panic" {
		panic("test panic")
	}
	var syms []filters.Symbol
	if rest, ok := strings.CutPrefix(subj, "score "); ok {
		n, _ := strconv.ParseFloat(rest, 64)
		syms = append(syms, filters.Symbol{Name: "TEST_SCORE", Score: n})
	}
	if subj == "tempfail" {
		syms = append(syms, filters.Symbol{Name: "TEST_ERROR", Force: filters.TempFail, Detail: "dns down"})
	}
	if subj == "quarantine" {
		syms = append(syms, filters.Symbol{Name: "TEST_Q", Force: filters.Quarantine})
	}
	if m.Body != nil {
		b, _ := io.ReadAll(m.Body.Reader())
		if strings.Contains(string(b), "BODYMARK") {
			syms = append(syms, filters.Symbol{Name: "TEST_BODY", Score: 0.1})
		}
	}
	return filters.Decide(syms, e.policy)
}

func (e *testEngine) Headers(m *filters.Message, v filters.Verdict) []filters.Header {
	h := []filters.Header{{Name: "X-Spam-Score", Value: strconv.FormatFloat(v.Score, 'f', 2, 64)}}
	if v.Action == filters.Tag {
		h = append(h, filters.Header{Name: "X-Spam-Flag", Value: "YES"})
	}
	return h
}

func (e *testEngine) Forged(name, value string) bool {
	return strings.EqualFold(name, "X-Spam-Flag")
}

func (e *testEngine) messages() []*filters.Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]*filters.Message(nil), e.seen...)
}

func testConfig() Config {
	return Config{
		Listen: "inet:127.0.0.1:0", ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MaxPacket: 2 << 20, MaxMessageSize: 1 << 20, SpoolMemory: 4 << 10,
		MaxHeaders: 100, MaxHeaderBytes: 64 << 10, MaxRecipients: 10, ProgressInterval: time.Second,
	}
}

func startServer(t *testing.T, cfg Config, e Engine) (*Server, string) {
	t.Helper()
	ln, err := Listen(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg, e, slog.New(slog.NewTextHandler(io.Discard, nil)))
	done := make(chan struct{})
	go func() { _ = srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return srv, ln.Addr().String()
}

type sentMessage struct {
	from, subject, body string
	extraHeaders        [][2]string
}

// send runs one message through an open client session.
func send(t *testing.T, s *gomilter.ClientSession, msg sentMessage) ([]gomilter.ModifyAction, *gomilter.Action) {
	t.Helper()
	if act, err := s.Mail(msg.from, ""); err != nil || act.StopProcessing() {
		t.Fatalf("mail: %v %v", act, err)
	}
	if act, err := s.Rcpt("rcpt@example.test", ""); err != nil || act.StopProcessing() {
		t.Fatalf("rcpt: %v %v", act, err)
	}
	if _, err := s.DataStart(); err != nil {
		t.Fatalf("data: %v", err)
	}
	hdrs := append([][2]string{{"From", msg.from}, {"Subject", msg.subject}}, msg.extraHeaders...)
	for _, h := range hdrs {
		if _, err := s.HeaderField(h[0], h[1], nil); err != nil {
			t.Fatalf("header: %v", err)
		}
	}
	if _, err := s.HeaderEnd(); err != nil {
		t.Fatalf("eoh: %v", err)
	}
	body := []byte(msg.body)
	if len(body) == 0 {
		body = []byte("\r\n")
	}
	for len(body) > 0 {
		n := min(len(body), 60<<10)
		if _, err := s.BodyChunk(body[:n]); err != nil {
			t.Fatalf("body: %v", err)
		}
		body = body[n:]
	}
	mods, act, err := s.End()
	if err != nil {
		t.Fatalf("end: %v", err)
	}
	return mods, act
}

func openSession(t *testing.T, addr, clientIP string) *gomilter.ClientSession {
	t.Helper()
	c := gomilter.NewClient("tcp", addr)
	macros := gomilter.NewMacroBag()
	macros.Set(gomilter.MacroQueueId, "QID1")
	s, err := c.Session(macros)
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	fam := gomilter.FamilyInet
	if strings.Contains(clientIP, ":") {
		fam = gomilter.FamilyInet6
	}
	if _, err := s.Conn("mx.sender.example", fam, 25, clientIP); err != nil {
		t.Fatalf("conn: %v", err)
	}
	if _, err := s.Helo("mx.sender.example"); err != nil {
		t.Fatalf("helo: %v", err)
	}
	return s
}

func hasHeader(mods []gomilter.ModifyAction, name, value string) bool {
	for _, m := range mods {
		if (m.Type == gomilter.ActionAddHeader || m.Type == gomilter.ActionInsertHeader) && strings.EqualFold(m.HeaderName, name) && strings.TrimSpace(m.HeaderValue) == value {
			return true
		}
	}
	return false
}

func TestRoundTrip(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, testConfig(), eng)

	tests := []struct {
		name       string
		subject    string
		wantType   gomilter.ActionType
		wantCode   uint16
		wantReply  string
		wantHeader [2]string
	}{
		{"clean", "hello", gomilter.ActionAccept, 0, "", [2]string{"X-Spam-Score", "0.00"}},
		{"tagged", "score 6", gomilter.ActionAccept, 0, "", [2]string{"X-Spam-Flag", "YES"}},
		{"rejected", "score 20", gomilter.ActionRejectWithCode, 550, "550 5.7.1 spam score 20.00 reaches 15.00", [2]string{}},
		{"tempfail", "tempfail", gomilter.ActionRejectWithCode, 451, "451 4.7.1 TEST_ERROR: dns down", [2]string{}},
		{"engine panic", "panic", gomilter.ActionRejectWithCode, 451, "451 4.7.1 internal error", [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openSession(t, addr, "192.0.2.10")
			mods, act := send(t, s, sentMessage{from: "a@sender.example", subject: tt.subject, body: "hi\r\n"})
			if act.Type != tt.wantType {
				t.Fatalf("action = %v, want %v (reply %q)", act.Type, tt.wantType, act.SMTPReply)
			}
			if tt.wantCode != 0 && (act.SMTPCode != tt.wantCode || act.SMTPReply != tt.wantReply) {
				t.Fatalf("reply = %d %q, want %d %q", act.SMTPCode, act.SMTPReply, tt.wantCode, tt.wantReply)
			}
			if tt.wantHeader[0] != "" && !hasHeader(mods, tt.wantHeader[0], tt.wantHeader[1]) {
				t.Fatalf("header %s: %s not added; modifications: %+v", tt.wantHeader[0], tt.wantHeader[1], mods)
			}
		})
	}
}

func TestQuarantine(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, testConfig(), eng)
	s := openSession(t, addr, "192.0.2.10")
	mods, act := send(t, s, sentMessage{from: "a@sender.example", subject: "quarantine"})
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("action = %v, want accept with quarantine", act.Type)
	}
	found := false
	for _, m := range mods {
		if m.Type == gomilter.ActionQuarantine {
			found = true
		}
	}
	if !found {
		t.Fatalf("no quarantine action in %+v", mods)
	}
}

func TestForgedHeaderRemoved(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, testConfig(), eng)
	s := openSession(t, addr, "192.0.2.10")
	mods, _ := send(t, s, sentMessage{from: "a@sender.example", subject: "hello",
		extraHeaders: [][2]string{{"X-Spam-Flag", "NO"}, {"X-Other", "1"}, {"X-Spam-Flag", "NO"}}})
	var removed []int
	for _, m := range mods {
		if m.Type == gomilter.ActionChangeHeader && m.HeaderValue == "" && strings.EqualFold(m.HeaderName, "X-Spam-Flag") {
			removed = append(removed, int(m.HeaderIndex))
		}
	}
	// Last occurrence first: Postfix renumbers after each deletion.
	if len(removed) != 2 || removed[0] != 2 || removed[1] != 1 {
		t.Fatalf("forged X-Spam-Flag removals = %v, want indexes [2 1]; mods %+v", removed, mods)
	}
}

func TestTwoMessagesOneConnection(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, testConfig(), eng)
	s := openSession(t, addr, "2001:db8::25")
	send(t, s, sentMessage{from: "one@sender.example", subject: "first"})
	send(t, s, sentMessage{from: "two@sender.example", subject: "second", body: "BODYMARK\r\n"})
	msgs := eng.messages()
	if len(msgs) != 2 {
		t.Fatalf("engine saw %d messages, want 2", len(msgs))
	}
	for i, m := range msgs {
		if got := m.Envelope.ClientIP.String(); got != "2001:db8::25" {
			t.Errorf("message %d: client IP %q, want 2001:db8::25", i+1, got)
		}
		if m.Envelope.Helo != "mx.sender.example" || m.Envelope.ClientName != "mx.sender.example" {
			t.Errorf("message %d: helo %q client name %q", i+1, m.Envelope.Helo, m.Envelope.ClientName)
		}
		if len(m.Envelope.Rcpts) != 1 {
			t.Errorf("message %d: rcpts %v, want exactly one (state must reset)", i+1, m.Envelope.Rcpts)
		}
	}
	if msgs[1].Envelope.MailFrom != "two@sender.example" {
		t.Errorf("second MAIL FROM = %q", msgs[1].Envelope.MailFrom)
	}
	if got := msgs[1].Header("Subject"); got != "second" {
		t.Errorf("second subject = %q (headers must reset between messages)", got)
	}
}

func TestAbortedMessageThenNext(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, testConfig(), eng)
	s := openSession(t, addr, "192.0.2.77")
	if _, err := s.Mail("aborted@sender.example", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rcpt("x@example.test", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	_, act := send(t, s, sentMessage{from: "next@sender.example", subject: "after abort"})
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("action after abort = %v", act.Type)
	}
	msgs := eng.messages()
	if len(msgs) != 1 {
		t.Fatalf("engine saw %d messages, want 1 (aborted one is not judged)", len(msgs))
	}
	m := msgs[0]
	if m.Envelope.MailFrom != "next@sender.example" || len(m.Envelope.Rcpts) != 1 || m.Envelope.ClientIP.String() != "192.0.2.77" {
		t.Fatalf("envelope after abort = %+v", m.Envelope)
	}
}

func TestLargeBodySpillsAndTruncates(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	cfg := testConfig()
	cfg.SpoolMemory = 1 << 10
	cfg.MaxMessageSize = 256 << 10
	_, addr := startServer(t, cfg, eng)
	s := openSession(t, addr, "192.0.2.1")

	// 100 KiB: spills to disk, still fully readable.
	body := strings.Repeat("x", 100<<10-len("BODYMARK\r\n")) + "BODYMARK\r\n"
	mods, _ := send(t, s, sentMessage{from: "a@b.example", subject: "big", body: body})
	if !hasHeader(mods, "X-Spam-Score", "0.10") {
		t.Fatalf("spilled body not read back: %+v", mods)
	}
	// 600 KiB: over the limit, judged on headers only.
	if _, err := s.Mail("<a@b.example>", ""); err != nil {
		t.Fatal(err)
	}
	s.Rcpt("<r@example.test>", "")
	s.DataStart()
	s.HeaderField("Subject", "huge", nil)
	s.HeaderEnd()
	chunk := []byte(strings.Repeat("y", 60<<10))
	for i := 0; i < 10 && !s.Skip(); i++ {
		if _, err := s.BodyChunk(chunk); err != nil {
			t.Fatal(err)
		}
	}
	_, act, err := s.End()
	if err != nil || act.Type != gomilter.ActionAccept {
		t.Fatalf("oversized message: %v %v", act, err)
	}
	msgs := eng.messages()
	last := msgs[len(msgs)-1]
	if !last.BodyTruncated || last.Body != nil {
		t.Fatalf("oversized message not truncated: truncated=%v", last.BodyTruncated)
	}
}

// rawPacket frames one milter packet.
func rawPacket(code byte, data []byte) []byte {
	b := make([]byte, 5+len(data))
	binary.BigEndian.PutUint32(b, uint32(1+len(data)))
	b[4] = code
	copy(b[5:], data)
	return b
}

func negotiatePacket() []byte {
	d := make([]byte, 12)
	binary.BigEndian.PutUint32(d, 6)
	binary.BigEndian.PutUint32(d[4:], 0x1ff)
	binary.BigEndian.PutUint32(d[8:], 0)
	return rawPacket('O', d)
}

func TestGarbageKeepsServing(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	srv, addr := startServer(t, testConfig(), eng)
	zeroLen := []byte{0, 0, 0, 0}
	cases := map[string][]byte{
		"zero length after negotiation": append(negotiatePacket(), zeroLen...),
		"zero length first":             zeroLen,
		"connect without family":        append(negotiatePacket(), rawPacket('C', []byte("host"))...),
		"mail without nul":              append(negotiatePacket(), rawPacket('M', []byte("<a@b>"))...),
		"empty macro":                   append(negotiatePacket(), rawPacket('D', nil)...),
		"huge length":                   append(negotiatePacket(), 0x7f, 0xff, 0xff, 0xff),
		"random bytes":                  []byte("GET / HTTP/1.0\r\n\r\n"),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Write(payload)
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			io.Copy(io.Discard, c) // the server closes the connection
			c.Close()
			// The daemon must still serve a normal session.
			s := openSession(t, addr, "192.0.2.5")
			_, act := send(t, s, sentMessage{from: "a@b.example", subject: "hello"})
			if act.Type != gomilter.ActionAccept {
				t.Fatalf("after %s: action %v", name, act.Type)
			}
		})
	}
	if srv.Stats().BadPackets == 0 {
		t.Fatal("no malformed packet was counted")
	}
}

func TestPeerDisconnectsMidBody(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, testConfig(), eng)
	c := gomilter.NewClient("tcp", addr)
	s, err := c.Session(gomilter.NewMacroBag())
	if err != nil {
		t.Fatal(err)
	}
	s.Conn("h", gomilter.FamilyInet, 25, "192.0.2.9")
	s.Helo("h")
	s.Mail("<a@b.example>", "")
	s.Rcpt("<r@example.test>", "")
	s.DataStart()
	s.HeaderField("Subject", "cut", nil)
	s.HeaderEnd()
	s.BodyChunk([]byte("partial body"))
	s.Close() // half a message, then gone
	s2 := openSession(t, addr, "192.0.2.5")
	_, act := send(t, s2, sentMessage{from: "a@b.example", subject: "hello"})
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("after disconnect: %v", act.Type)
	}
	for _, m := range eng.messages() {
		if m.Header("Subject") == "cut" {
			t.Fatal("a message whose peer vanished mid-body was judged")
		}
	}
}

func TestParseListen(t *testing.T) {
	tests := []struct{ in, network, addr string }{
		{"inet:127.0.0.1:11340", "tcp4", "127.0.0.1:11340"},
		{"inet6:[::1]:11340", "tcp6", "[::1]:11340"},
		{"inet:11340@127.0.0.1", "tcp4", "127.0.0.1:11340"},
		{"unix:/run/vigil/milter.sock", "unix", "/run/vigil/milter.sock"},
	}
	for _, tt := range tests {
		n, a, err := ParseListen(tt.in)
		if err != nil || n != tt.network || a != tt.addr {
			t.Errorf("ParseListen(%q) = %q %q %v, want %q %q", tt.in, n, a, err, tt.network, tt.addr)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:25", "inet:", "inet:host", "inet:1.2.3.4:99999", "smtp:1.2.3.4:25"} {
		if _, _, err := ParseListen(bad); err == nil {
			t.Errorf("ParseListen(%q) accepted", bad)
		}
	}
}

func TestParseClientAddr(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1":        "192.0.2.1",
		"IPv6:2001:db8::1": "2001:db8::1",
		"[2001:db8::1]":    "2001:db8::1",
		"::ffff:192.0.2.1": "192.0.2.1",
		"garbage":          "invalid IP",
		"":                 "invalid IP",
	}
	for in, want := range tests {
		if got := parseClientAddr(in).String(); got != want {
			t.Errorf("parseClientAddr(%q) = %q, want %q", in, got, want)
		}
	}
	if clientName("unknown") != "" || clientName("[192.0.2.1]") != "" || clientName("MX.Example.") != "mx.example" {
		t.Error("clientName mapping wrong")
	}
}

func TestShutdownDrainsOpenSession(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	cfg := testConfig()
	ln, err := Listen(cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(cfg, eng, slog.New(slog.NewTextHandler(io.Discard, nil)))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	addr := ln.Addr().String()

	s := openSession(t, addr, "192.0.2.1")
	if _, err := s.Mail("a@b.example", ""); err != nil {
		t.Fatal(err)
	}
	// SIGTERM arrives mid-message.
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	// New connections are refused once the listener closes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The message in flight still gets its verdict.
	s.Rcpt("r@example.test", "")
	s.DataStart()
	s.HeaderField("Subject", "score 20", nil)
	s.HeaderEnd()
	s.BodyChunk([]byte("x\r\n"))
	_, act, err := s.End()
	if err != nil || act.Type != gomilter.ActionRejectWithCode {
		t.Fatalf("in-flight message: %v %v", act, err)
	}
	select {
	case <-shut:
		t.Fatal("Shutdown returned while a session was open")
	default:
	}
	s.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the session closed")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
