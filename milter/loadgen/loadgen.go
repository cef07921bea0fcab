// Package loadgen is a load generator for milters. It speaks the milter
// protocol (Sendmail's libmilter protocol, version 6) as an MTA would, using
// github.com/d--j/go-milter's own client, and measures throughput and latency.
//
// Each message is one milter session, as Postfix's smtpd opens one milter
// connection per SMTP session: negotiate, CONNECT (with the client address
// and the macros Postfix sends by default), HELO, MAIL, RCPT..., DATA, the
// header fields, end of headers, the body, end of message, QUIT.
package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/d--j/go-milter"
)

// Options describe one load run.
type Options struct {
	// Network is "tcp" or "unix"; default "tcp".
	Network string
	// Addr is the milter's address: "127.0.0.1:11340" or a socket path.
	Addr string
	// Conns is the number of concurrent workers, each running one milter
	// session at a time; default 16.
	Conns int
	// Messages is the total number of messages to send. Zero means run until
	// Duration has passed. When both are set, whichever comes first ends the run.
	Messages int
	// Duration bounds the run; zero means no time bound (Messages must be set).
	Duration time.Duration
	// Message is the RFC 5322 message (header, empty line, body) sent in
	// every session. LF line endings are turned into CRLF, as an MTA does
	// before it talks to a milter.
	Message []byte
	// ClientIP is the connecting SMTP client address; default "203.0.113.9"
	// (RFC 5737 documentation range: nothing is ever sent there).
	ClientIP string
	// ClientName is the client's reverse DNS name; default "unknown", as
	// Postfix reports an address without a verified name.
	ClientName string
	// Helo is the HELO/EHLO argument; default "client.example.test".
	Helo string
	// From is the envelope sender without angle brackets; default
	// "sender@example.test".
	From string
	// Rcpts are the envelope recipients; default ["inbox@example.test"].
	Rcpts []string
	// Timeout bounds each read and write on the milter connection and the
	// dial; default 10s.
	Timeout time.Duration
}

// Result is what a run measured.
type Result struct {
	// Messages is the number of sessions that completed with a final
	// milter answer (whatever the answer was).
	Messages int
	// Errors is the number of sessions that failed (dial, protocol or
	// timeout errors). FirstError is the first of them.
	Errors     int
	FirstError error
	// Actions counts the final answers by name: "accept", "continue",
	// "reject", "tempfail", "discard", "reject_with_code", ...
	Actions map[string]int
	// Modifications counts the modification requests at end of message by
	// name: "add_header", "change_header", "insert_header", "quarantine", ...
	Modifications map[string]int
	// Verdicts counts the outcomes as a mail filter's verdicts (Verdict):
	// "accept", "tag", "quarantine", "reject", "tempfail", "discard".
	Verdicts map[string]int
	// Elapsed is the wall time of the whole run.
	Elapsed time.Duration
	// PerSecond is Messages / Elapsed.
	PerSecond float64
	// Latency percentiles of one whole session (dial to QUIT).
	P50, P99, Max time.Duration
}

// String is a one-line human summary.
func (r Result) String() string {
	return fmt.Sprintf("%d messages in %s (%.0f msg/s), %d errors, p50 %s, p99 %s, max %s, verdicts %v",
		r.Messages, r.Elapsed.Round(time.Millisecond), r.PerSecond, r.Errors,
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond),
		r.Verdicts)
}

// Envelope and content of the message as sent in each session, parsed once.
type prepared struct {
	clientIP   netip.Addr
	clientName string
	helo       string
	from       string
	rcpts      []string
	headers    []field
	body       []byte
}

type field struct{ name, value string }

// Outcome is what the milter answered to one message.
type Outcome struct {
	// Action is the final answer (at end of message, or earlier when the
	// milter stopped the transaction).
	Action milter.Action
	// Modifications are the changes the milter asked for at end of message.
	Modifications []milter.ModifyAction
}

func (o *Options) setDefaults() error {
	if o.Network == "" {
		o.Network = "tcp"
	}
	if o.Network != "tcp" && o.Network != "unix" {
		return fmt.Errorf("loadgen: network %q: want tcp or unix", o.Network)
	}
	if o.Addr == "" {
		return errors.New("loadgen: no milter address")
	}
	if o.Conns == 0 {
		o.Conns = 16
	}
	if o.Conns < 0 {
		return fmt.Errorf("loadgen: conns %d: must be positive", o.Conns)
	}
	if o.Messages < 0 {
		return fmt.Errorf("loadgen: messages %d: must not be negative", o.Messages)
	}
	if o.Duration < 0 {
		return fmt.Errorf("loadgen: duration %s: must not be negative", o.Duration)
	}
	if o.Messages == 0 && o.Duration == 0 {
		return errors.New("loadgen: set messages or duration")
	}
	if len(o.Message) == 0 {
		return errors.New("loadgen: empty message")
	}
	if o.ClientIP == "" {
		o.ClientIP = "203.0.113.9"
	}
	if o.ClientName == "" {
		o.ClientName = "unknown"
	}
	if o.Helo == "" {
		o.Helo = "client.example.test"
	}
	if o.From == "" {
		o.From = "sender@example.test"
	}
	if len(o.Rcpts) == 0 {
		o.Rcpts = []string{"inbox@example.test"}
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	return nil
}

func prepare(o Options) (*prepared, error) {
	ip, err := netip.ParseAddr(o.ClientIP)
	if err != nil {
		return nil, fmt.Errorf("loadgen: client ip: %w", err)
	}
	headers, body, err := splitMessage(o.Message)
	if err != nil {
		return nil, err
	}
	return &prepared{
		clientIP:   ip,
		clientName: o.ClientName,
		helo:       o.Helo,
		from:       o.From,
		rcpts:      o.Rcpts,
		headers:    headers,
		body:       body,
	}, nil
}

// crlf turns bare LF (and keeps existing CRLF) into CRLF.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// splitMessage parses the header section into fields in order (RFC 5322
// §2.2: a field is a name, a colon and a body; continuation lines start with
// WSP, §2.2.3) and returns the body with CRLF line endings. Field values are
// sent as Postfix sends them without SMFIP_HDR_LEADSPC: the space after the
// colon removed, folding kept.
func splitMessage(msg []byte) ([]field, []byte, error) {
	msg = crlf(msg)
	var head, body []byte
	if bytes.HasPrefix(msg, []byte("\r\n")) {
		head, body = nil, msg[2:]
	} else if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		head, body = msg[:i+2], msg[i+4:]
	} else {
		head, body = msg, nil
	}
	// A field's value is one substring of the header section, from after
	// its colon to the end of its last continuation line: extending it per
	// line costs nothing, where appending would copy the value each time
	// (quadratic in a long folded field).
	type span struct {
		name       string
		start, end int
	}
	hs := string(head)
	var spans []span
	for off := 0; off < len(hs); {
		n := strings.Index(hs[off:], "\r\n")
		end := len(hs)
		if n >= 0 {
			end = off + n + 2
		}
		line := hs[off:end]
		switch {
		case line == "" || line == "\r\n":
		case line[0] == ' ' || line[0] == '\t':
			if len(spans) == 0 {
				return nil, nil, errors.New("loadgen: message starts with a continuation line")
			}
			spans[len(spans)-1].end = end
		default:
			name, _, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return nil, nil, fmt.Errorf("loadgen: malformed header line %q", strings.TrimRight(line, "\r\n"))
			}
			start := off + len(name) + 1
			if start < end && hs[start] == ' ' {
				start++
			}
			spans = append(spans, span{name: name, start: start, end: end})
		}
		off = end
	}
	fields := make([]field, len(spans))
	for i, sp := range spans {
		fields[i] = field{name: sp.name, value: strings.TrimSuffix(hs[sp.start:sp.end], "\r\n")}
	}
	return fields, body, nil
}

// newClient builds a go-milter client that offers what Postfix 3.7 offers
// with milter_protocol = 6 and requests its default macro lists
// (postconf milter_*_macros).
func newClient(ctx context.Context, o Options) *milter.Client {
	return milter.NewClient(o.Network, o.Addr,
		milter.WithDialer(ctxDialer{ctx: ctx, d: net.Dialer{Timeout: o.Timeout}}),
		milter.WithReadTimeout(o.Timeout),
		milter.WithWriteTimeout(o.Timeout),
		milter.WithMaximumVersion(6),
		milter.WithActions(milter.AllClientSupportedActionMasks),
		milter.WithoutDefaultMacros(),
		milter.WithMacroRequest(milter.StageConnect, []milter.MacroName{"j", "{daemon_name}", "{daemon_addr}", "v", "_", "{client_addr}", "{client_name}", "{client_ptr}"}),
		milter.WithMacroRequest(milter.StageHelo, []milter.MacroName{"{tls_version}", "{cipher}", "{cipher_bits}", "{cert_subject}", "{cert_issuer}"}),
		milter.WithMacroRequest(milter.StageMail, []milter.MacroName{"i", "{auth_type}", "{auth_authen}", "{auth_author}", "{mail_addr}", "{mail_host}", "{mail_mailer}"}),
		milter.WithMacroRequest(milter.StageRcpt, []milter.MacroName{"{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"}),
		milter.WithMacroRequest(milter.StageData, []milter.MacroName{"i"}),
		milter.WithMacroRequest(milter.StageEOH, []milter.MacroName{"i"}),
		milter.WithMacroRequest(milter.StageEOM, []milter.MacroName{"i"}),
	)
}

// ctxDialer dials under the run's context and closes the connection when
// that context ends: the library's timeouts bound each read and write, this
// bounds the whole run even when a milter stalls mid-session.
type ctxDialer struct {
	ctx context.Context
	d   net.Dialer
}

func (c ctxDialer) Dial(network, addr string) (net.Conn, error) {
	conn, err := c.d.DialContext(c.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &ctxConn{Conn: conn, stop: context.AfterFunc(c.ctx, func() { conn.Close() })}, nil
}

type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// sessionErr wraps a failure of one session with the step that failed.
func sessionErr(step string, err error) error {
	return fmt.Errorf("loadgen: %s: %w", step, err)
}

// stopped reports whether a pre-DATA answer ends the transaction.
func stopped(act *milter.Action) bool {
	return act.StopProcessing() || act.Type == milter.ActionAccept || act.Type == milter.ActionDiscard
}

// send runs one milter session for one message and returns what the milter
// answered. queueID is sent as macro i.
func send(client *milter.Client, p *prepared, queueID string) (out Outcome, err error) {
	macros := milter.NewMacroBag()
	macros.Set("j", "mx.example.test")
	macros.Set("{daemon_name}", "vigil-loadgen")
	macros.Set("{daemon_addr}", "127.0.0.1")
	macros.Set("v", "Postfix 3.7 (loadgen)")
	addr := p.clientIP.String()
	macros.Set("_", fmt.Sprintf("%s [%s]", p.clientName, addr))
	macros.Set("{client_addr}", addr)
	macros.Set("{client_name}", p.clientName)
	macros.Set("{client_ptr}", p.clientName)

	s, err := client.Session(macros)
	if err != nil {
		return out, sessionErr("negotiate", err)
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = sessionErr("quit", cerr)
		}
	}()

	family := milter.FamilyInet
	if p.clientIP.Is6() {
		family = milter.FamilyInet6
	}
	finish := func(step string, call func() (*milter.Action, error)) (bool, error) {
		act, err := call()
		if err != nil {
			return true, sessionErr(step, err)
		}
		if stopped(act) {
			out.Action = *act
			return true, nil
		}
		return false, nil
	}
	if done, err := finish("connect", func() (*milter.Action, error) { return s.Conn(p.clientName, family, 25, addr) }); done {
		return out, err
	}
	if done, err := finish("helo", func() (*milter.Action, error) { return s.Helo(p.helo) }); done {
		return out, err
	}
	macros.Set("i", queueID)
	macros.Set("{mail_addr}", p.from)
	macros.Set("{mail_mailer}", "smtp")
	if _, host, ok := strings.Cut(p.from, "@"); ok {
		macros.Set("{mail_host}", host)
	}
	if done, err := finish("mail", func() (*milter.Action, error) { return s.Mail(p.from, "") }); done {
		return out, err
	}
	accepted := 0
	for _, rcpt := range p.rcpts {
		macros.Set("{rcpt_addr}", rcpt)
		macros.Set("{rcpt_mailer}", "virtual")
		if _, host, ok := strings.Cut(rcpt, "@"); ok {
			macros.Set("{rcpt_host}", host)
		}
		act, err := s.Rcpt(rcpt, "")
		if err != nil {
			return out, sessionErr("rcpt", err)
		}
		if act.Type == milter.ActionDiscard {
			out.Action = *act
			return out, nil
		}
		if !act.StopProcessing() {
			accepted++
		} else {
			out.Action = *act // the last rejection, reported if no recipient is left
		}
	}
	if accepted == 0 {
		return out, nil
	}
	if done, err := finish("data", func() (*milter.Action, error) { return s.DataStart() }); done {
		return out, err
	}
	for _, f := range p.headers {
		if done, err := finish("header", func() (*milter.Action, error) { return s.HeaderField(f.name, f.value, nil) }); done {
			return out, err
		}
	}
	if done, err := finish("eoh", func() (*milter.Action, error) { return s.HeaderEnd() }); done {
		return out, err
	}
	var (
		mods []milter.ModifyAction
		act  *milter.Action
	)
	if len(p.body) == 0 {
		// go-milter v0.10.1's BodyReadFrom sends no chunk for an empty body
		// and then refuses End ("end: in wrong state 8"): a message with
		// no body would never finish. Send one empty chunk, then end.
		if done, err := finish("body", func() (*milter.Action, error) { return s.BodyChunk(nil) }); done {
			return out, err
		}
		mods, act, err = s.End()
	} else {
		mods, act, err = s.BodyReadFrom(bytes.NewReader(p.body))
	}
	if err != nil {
		return out, sessionErr("body", err)
	}
	out.Action = *act
	out.Modifications = mods
	return out, nil
}

// Check sends one message through one milter session and returns the
// milter's answer. Options.Conns, Messages and Duration are ignored.
func Check(ctx context.Context, o Options) (Outcome, error) {
	o.Messages = 1
	if err := o.setDefaults(); err != nil {
		return Outcome{}, err
	}
	p, err := prepare(o)
	if err != nil {
		return Outcome{}, err
	}
	return send(newClient(ctx, o), p, "MT0000001")
}

// Verdict names an outcome the way a mail filter's verdicts are named. The
// milter protocol has no "tag": a tagged message is accepted with an
// X-Spam-Flag: YES header added, and a quarantined one accepted with a
// quarantine request; counting both as "accept" would hide them.
func Verdict(o Outcome) string {
	name := ActionName(o.Action)
	if name != "accept" && name != "continue" {
		if name == "tempfail_with_code" {
			return "tempfail"
		}
		if name == "reject_with_code" {
			return "reject"
		}
		return name
	}
	verdict := "accept"
	for _, m := range o.Modifications {
		switch {
		case m.Type == milter.ActionQuarantine:
			return "quarantine"
		case (m.Type == milter.ActionAddHeader || m.Type == milter.ActionInsertHeader || m.Type == milter.ActionChangeHeader) &&
			strings.EqualFold(m.HeaderName, "X-Spam-Flag") && strings.EqualFold(strings.TrimSpace(m.HeaderValue), "YES"):
			verdict = "tag"
		}
	}
	return verdict
}

// ActionName is a stable lower-case name for a final milter answer.
func ActionName(a milter.Action) string {
	switch a.Type {
	case milter.ActionAccept:
		return "accept"
	case milter.ActionContinue:
		return "continue"
	case milter.ActionDiscard:
		return "discard"
	case milter.ActionReject:
		return "reject"
	case milter.ActionTempFail:
		return "tempfail"
	case milter.ActionSkip:
		return "skip"
	case milter.ActionRejectWithCode:
		// RFC 5321 §4.2.1: 4yz is transient, 5yz permanent.
		if a.SMTPCode >= 400 && a.SMTPCode < 500 {
			return "tempfail_with_code"
		}
		return "reject_with_code"
	default:
		return fmt.Sprintf("unknown_%d", a.Type)
	}
}

// ModificationName is a stable lower-case name for a modification request.
func ModificationName(m milter.ModifyAction) string {
	switch m.Type {
	case milter.ActionAddRcpt:
		return "add_rcpt"
	case milter.ActionDelRcpt:
		return "del_rcpt"
	case milter.ActionQuarantine:
		return "quarantine"
	case milter.ActionReplaceBody:
		return "replace_body"
	case milter.ActionChangeFrom:
		return "change_from"
	case milter.ActionAddHeader:
		return "add_header"
	case milter.ActionChangeHeader:
		if m.HeaderValue == "" {
			return "remove_header"
		}
		return "change_header"
	case milter.ActionInsertHeader:
		return "insert_header"
	default:
		return fmt.Sprintf("unknown_%d", m.Type)
	}
}

type workerResult struct {
	latencies []time.Duration
	errors    int
	firstErr  error
	actions   map[string]int
	mods      map[string]int
	verdicts  map[string]int
}

// Run sends the message Options.Messages times (or for Options.Duration)
// from Options.Conns concurrent workers, one milter session per message, and
// returns the measurements. A failed session is counted in Result.Errors
// and the run goes on; Run returns an error only for bad options or when
// no session completed at all.
func Run(ctx context.Context, o Options) (Result, error) {
	if err := o.setDefaults(); err != nil {
		return Result{}, err
	}
	p, err := prepare(o)
	if err != nil {
		return Result{}, err
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	client := newClient(ctx, o)

	// Tickets hand out message numbers; -1 budget means unbounded.
	var issued atomic.Int64
	// over reports the end of the run. It also reads the deadline itself:
	// a dial fails on the deadline before ctx.Done fires, and that failure
	// is the end of the run, not a milter error.
	over := func() bool {
		if ctx.Err() != nil {
			return true
		}
		dl, ok := ctx.Deadline()
		return ok && !time.Now().Before(dl)
	}
	take := func() (int64, bool) {
		if over() {
			return 0, false
		}
		n := issued.Add(1)
		if o.Messages > 0 && n > int64(o.Messages) {
			return 0, false
		}
		return n, true
	}

	results := make([]workerResult, o.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range o.Conns {
		wg.Add(1)
		go func(wr *workerResult) {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					wr.errors++
					if wr.firstErr == nil {
						wr.firstErr = fmt.Errorf("loadgen: worker panic: %v\n%s", r, debug.Stack())
					}
				}
			}()
			wr.actions = map[string]int{}
			wr.mods = map[string]int{}
			wr.verdicts = map[string]int{}
			for {
				n, ok := take()
				if !ok {
					return
				}
				t0 := time.Now()
				out, err := send(client, p, fmt.Sprintf("MT%07X", n))
				if err != nil {
					if over() {
						return // cut off by the end of the run: not a milter failure
					}
					wr.errors++
					if wr.firstErr == nil {
						wr.firstErr = err
					}
					continue
				}
				wr.latencies = append(wr.latencies, time.Since(t0))
				wr.actions[ActionName(out.Action)]++
				wr.verdicts[Verdict(out)]++
				for _, m := range out.Modifications {
					wr.mods[ModificationName(m)]++
				}
			}
		}(&results[w])
	}
	wg.Wait()

	res := Result{Elapsed: time.Since(start), Actions: map[string]int{}, Modifications: map[string]int{}, Verdicts: map[string]int{}}
	var all []time.Duration
	for _, wr := range results {
		all = append(all, wr.latencies...)
		res.Errors += wr.errors
		if res.FirstError == nil {
			res.FirstError = wr.firstErr
		}
		for k, v := range wr.actions {
			res.Actions[k] += v
		}
		for k, v := range wr.mods {
			res.Modifications[k] += v
		}
		for k, v := range wr.verdicts {
			res.Verdicts[k] += v
		}
	}
	res.Messages = len(all)
	if res.Elapsed > 0 {
		res.PerSecond = float64(res.Messages) / res.Elapsed.Seconds()
	}
	if len(all) > 0 {
		slices.Sort(all)
		res.P50 = percentile(all, 50)
		res.P99 = percentile(all, 99)
		res.Max = all[len(all)-1]
	}
	if res.Messages == 0 && res.Errors > 0 {
		return res, fmt.Errorf("loadgen: every session failed (%d): %w", res.Errors, res.FirstError)
	}
	return res, nil
}

// percentile of sorted durations by the nearest-rank method.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}
