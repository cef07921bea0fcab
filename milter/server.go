// Package milter adapts the milter protocol (Postfix smtpd_milters, Sendmail
// INPUT_MAIL_FILTER) to Vigil's pipeline: it collects the envelope, macros,
// headers and a spooled body, hands a filters.Message to an Engine, and turns
// the Verdict into milter actions. It knows no check.
//
// The protocol library is github.com/d--j/go-milter (protocol version 6).
// Around it: a framing guard against malformed packets (the library panics on
// some), recover in every callback, read deadlines, and caps on packet,
// header and message size.
package milter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/filters"
)

// Config is the milter side of the configuration (keys milter: and limits:).
type Config struct {
	// Listen is "inet:HOST:PORT", "inet6:[HOST]:PORT" or "unix:PATH".
	Listen string
	// ReadTimeout bounds the wait for the MTA's next packet. It must exceed
	// the MTA's own SMTP idle timeout (Postfix smtpd_timeout: 300s).
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply to the MTA.
	WriteTimeout time.Duration
	// MaxPacket caps one milter packet (the protocol's chunks are <= 1 MiB).
	MaxPacket uint32
	// MaxMessageSize: bodies larger than this are not stored; the message is
	// judged on headers and envelope with the MESSAGE_TOO_BIG symbol.
	MaxMessageSize int64
	// SpoolMemory: bodies up to this size stay in memory, larger ones spill
	// to a temporary file in SpoolDir.
	SpoolMemory int64
	SpoolDir    string
	// MaxHeaders and MaxHeaderBytes cap what is kept of the header block.
	MaxHeaders     int
	MaxHeaderBytes int
	// MaxRecipients caps the recipients kept per message.
	MaxRecipients int
	// ProgressInterval: while a verdict takes longer than this, the MTA is
	// sent progress notices so it does not time out (SMFIR_PROGRESS).
	ProgressInterval time.Duration
}

// Engine is what the milter needs from the filtering side.
type Engine interface {
	// Judge runs the pipeline on m. It must not fail: errors are symbols.
	Judge(ctx context.Context, m *filters.Message) filters.Verdict
	// Headers returns the header fields to add to a delivered message.
	Headers(m *filters.Message, v filters.Verdict) []filters.Header
	// Forged reports whether an incoming header claims to be ours and must
	// be removed (X-Spam-*, Authentication-Results with our authserv-id).
	Forged(name, value string) bool
}

// Server is a milter server bound to one Engine (swappable on reload).
type Server struct {
	cfg     Config // as started: listen, timeouts, packet size
	live    atomic.Pointer[Config]
	log     *slog.Logger
	engine  atomic.Pointer[engineBox]
	lib     *gomilter.Server
	baseCtx context.Context

	inflight sync.WaitGroup
	panics   atomic.Int64
	rejected atomic.Int64 // connections closed for malformed packets
	messages atomic.Int64
	actions  sync.Map // filters.Action -> *atomic.Int64
}

// ActionCounts returns how many verdicts of each action were answered.
func (s *Server) ActionCounts() map[string]int64 {
	out := map[string]int64{}
	s.actions.Range(func(k, v any) bool {
		out[string(k.(filters.Action))] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

type engineBox struct{ e Engine }

// libLog receives the library's warnings (it logs through a package-level
// function); the last server created wins, which is the daemon's.
var libLog atomic.Pointer[slog.Logger]

// NewServer returns a server; call Serve with a listener from Listen.
func NewServer(cfg Config, e Engine, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, baseCtx: context.Background()}
	s.live.Store(&cfg)
	libLog.Store(log)
	gomilter.LogWarning = func(format string, v ...any) {
		libLog.Load().Warn("milter library: " + fmt.Sprintf(format, v...))
	}
	s.engine.Store(&engineBox{e})
	wanted := gomilter.OptHeaderLeadingSpace | gomilter.OptSkip |
		gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoMailReply |
		gomilter.OptNoRcptReply | gomilter.OptNoDataReply | gomilter.OptNoHeaderReply |
		gomilter.OptNoEOHReply | gomilter.OptNoUnknownReply
	actions := gomilter.OptAddHeader | gomilter.OptChangeHeader | gomilter.OptQuarantine | gomilter.OptSetMacros
	s.lib = gomilter.NewServer(
		gomilter.WithDynamicMilter(func(uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize) gomilter.Milter {
			return &session{srv: s}
		}),
		gomilter.WithReadTimeout(cfg.ReadTimeout),
		gomilter.WithWriteTimeout(cfg.WriteTimeout),
		gomilter.WithMacroRequest(gomilter.StageConnect, []string{gomilter.MacroClientAddr, gomilter.MacroClientName, gomilter.MacroMTAFQDN, gomilter.MacroDaemonName}),
		gomilter.WithMacroRequest(gomilter.StageHelo, []string{gomilter.MacroTlsVersion, gomilter.MacroCipher, gomilter.MacroCipherBits, gomilter.MacroCertSubject, gomilter.MacroCertIssuer}),
		gomilter.WithMacroRequest(gomilter.StageMail, []string{gomilter.MacroAuthAuthen, gomilter.MacroAuthType, gomilter.MacroQueueId}),
		gomilter.WithMacroRequest(gomilter.StageEOM, []string{gomilter.MacroQueueId}),
		// Take what the MTA offers of what we want instead of refusing the
		// connection: an MTA without SMFIP_SKIP or leading-space support
		// (older Sendmail) still gets filtered.
		gomilter.WithNegotiationCallback(func(mtaVersion, _ uint32, mtaActions, _ gomilter.OptAction, mtaProto, _ gomilter.OptProtocol, offered gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
			if mtaVersion < 2 {
				return 0, 0, 0, 0, fmt.Errorf("milter: MTA protocol version %d too old", mtaVersion)
			}
			v := mtaVersion
			if v > gomilter.MaxServerProtocolVersion {
				v = gomilter.MaxServerProtocolVersion
			}
			proto := wanted & mtaProto
			if v < 6 {
				proto &^= gomilter.OptSkip
			}
			return v, actions & mtaActions, proto, offered, nil
		}),
	)
	return s
}

// SetEngine swaps the engine (config reload); messages in flight finish
// with the engine they started with.
func (s *Server) SetEngine(e Engine) { s.engine.Store(&engineBox{e}) }

// SetLimits applies the per-message settings of cfg (config reload):
// message, header and recipient limits, spooling, progress notices. Each
// message uses the ones in force when it started. Listen, ReadTimeout,
// WriteTimeout and MaxPacket are fixed when Serve starts.
func (s *Server) SetLimits(cfg Config) {
	cfg.Listen, cfg.ReadTimeout, cfg.WriteTimeout, cfg.MaxPacket = s.cfg.Listen, s.cfg.ReadTimeout, s.cfg.WriteTimeout, s.cfg.MaxPacket
	s.live.Store(&cfg)
}

// conf is the configuration in force now.
func (s *Server) conf() Config { return *s.live.Load() }

// Listen opens the listener described by spec ("inet:127.0.0.1:11340",
// "inet6:[::1]:11340", "unix:/run/vigil/milter.sock").
func Listen(spec string) (net.Listener, error) {
	network, addr, err := ParseListen(spec)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		// A stale socket from a previous run would make bind fail.
		if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(addr)
		}
		ln, err := net.Listen("unix", addr)
		if err != nil {
			return nil, fmt.Errorf("milter: listen %s: %w", spec, err)
		}
		_ = os.Chmod(addr, 0o660)
		return ln, nil
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("milter: listen %s: %w", spec, err)
	}
	return ln, nil
}

// ParseListen splits a milter socket spec into Go network and address.
func ParseListen(spec string) (network, addr string, err error) {
	kind, rest, ok := strings.Cut(spec, ":")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("milter: listen %q: want inet:HOST:PORT, inet6:[HOST]:PORT or unix:PATH", spec)
	}
	switch kind {
	case "unix", "local":
		return "unix", rest, nil
	case "inet", "inet6", "tcp":
		// Sendmail style "inet:PORT@HOST" is accepted too.
		if p, h, ok := strings.Cut(rest, "@"); ok {
			rest = net.JoinHostPort(h, p)
		}
		h, p, err := net.SplitHostPort(rest)
		if err != nil {
			return "", "", fmt.Errorf("milter: listen %q: %w", spec, err)
		}
		if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
			return "", "", fmt.Errorf("milter: listen %q: bad port %q", spec, p)
		}
		network = "tcp4"
		if kind == "inet6" || strings.Contains(h, ":") {
			network = "tcp6"
		}
		if h == "" {
			network = "tcp"
		}
		return network, net.JoinHostPort(h, p), nil
	}
	return "", "", fmt.Errorf("milter: listen %q: unknown socket type %q (want inet, inet6 or unix)", spec, kind)
}

// Serve serves milter connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	maxPacket := s.cfg.MaxPacket
	if maxPacket == 0 {
		maxPacket = 2 << 20
	}
	err := s.lib.Serve(&guardListener{Listener: ln, maxPacket: maxPacket, log: s.log, rejected: &s.rejected})
	if errors.Is(err, gomilter.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits for the open MTA
// sessions to finish their messages and quit (Postfix holds one milter
// connection per SMTP session). When ctx expires the remaining connections
// are closed; the MTA then applies its milter_default_action to whatever was
// in flight (tempfail in our recommended setup), so nothing is lost.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.lib.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.log.Warn("shutdown timeout: closed milter connections still open")
		return nil
	}
	return err
}

// Stats are counters for metrics and tests.
type Stats struct {
	Messages, Panics, BadPackets int64
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{Messages: s.messages.Load(), Panics: s.panics.Load(), BadPackets: s.rejected.Load()}
}

func (s *Server) newSpool() *Spool {
	return NewSpool(s.conf().SpoolMemory, s.conf().MaxMessageSize, s.conf().SpoolDir)
}

// judge runs the engine, sending progress notices to the MTA while it works.
func (s *Server) judge(msg *filters.Message, m gomilter.Modifier) judged {
	s.inflight.Add(1)
	defer s.inflight.Done()
	s.messages.Add(1)
	e := s.engine.Load().e
	start := time.Now()
	done := make(chan filters.Verdict, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				s.panics.Add(1)
				s.log.Error("engine panicked", "panic", fmt.Sprint(r), "queue_id", msg.Envelope.QueueID)
				done <- filters.Verdict{Action: filters.TempFail, WouldBe: filters.TempFail, Reason: "internal error"}
			}
		}()
		done <- e.Judge(s.baseCtx, msg)
	}()
	var v filters.Verdict
	interval := s.conf().ProgressInterval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
wait:
	for {
		select {
		case v = <-done:
			break wait
		case <-tick.C:
			if err := m.Progress(); err != nil {
				s.log.Debug("progress notice failed", "err", err)
			}
		}
	}
	return judged{v: v, e: e, took: time.Since(start)}
}

type judged struct {
	v    filters.Verdict
	e    Engine
	took time.Duration
}

// apply turns the verdict into milter actions and the final reply.
func (s *Server) apply(msg *filters.Message, j judged, m gomilter.Modifier) *gomilter.Response {
	v := j.v
	s.logVerdict(msg, v, j.took)
	n, _ := s.actions.LoadOrStore(v.Action, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	switch v.Action {
	case filters.Reject:
		resp, err := gomilter.RejectWithCodeAndReason(550, "5.7.1 "+replyText(v.Reason, "message rejected as spam"))
		if err != nil {
			return gomilter.RespReject
		}
		return resp
	case filters.TempFail:
		resp, err := gomilter.RejectWithCodeAndReason(451, "4.7.1 "+replyText(v.Reason, "try again later"))
		if err != nil {
			return gomilter.RespTempFail
		}
		return resp
	}
	lead := ""
	if m.Protocol()&gomilter.OptHeaderLeadingSpace != 0 {
		lead = " "
	}
	// Remove incoming headers that forge ours before adding ours. The index
	// is the 1-based occurrence of that header name (smfi_chgheader).
	// Postfix renumbers the remaining fields after a deletion (Sendmail
	// only marks them deleted), so delete from the last occurrence back.
	type forged struct {
		name  string
		index int
	}
	var del []forged
	seen := map[string]int{}
	for _, h := range msg.Headers {
		k := strings.ToLower(h.Name)
		seen[k]++
		if j.e.Forged(h.Name, h.Value) {
			del = append(del, forged{h.Name, seen[k]})
		}
	}
	for i := len(del) - 1; i >= 0; i-- {
		if err := m.ChangeHeader(del[i].index, del[i].name, ""); err != nil {
			s.log.Warn("removing forged header", "header", del[i].name, "err", err, "queue_id", msg.Envelope.QueueID)
		}
	}
	for _, h := range j.e.Headers(msg, v) {
		var err error
		if strings.EqualFold(h.Name, "Authentication-Results") {
			// RFC 8601 §5: added at the top, above the fields it describes.
			err = m.InsertHeader(0, h.Name, lead+h.Value)
		} else {
			err = m.AddHeader(h.Name, lead+h.Value)
		}
		if err != nil {
			s.log.Warn("adding header", "header", h.Name, "err", err, "queue_id", msg.Envelope.QueueID)
		}
	}
	if v.Action == filters.Quarantine {
		if err := m.Quarantine(replyText(v.Reason, "quarantined by vigil")); err != nil {
			s.log.Warn("quarantine", "err", err, "queue_id", msg.Envelope.QueueID)
		}
	}
	return gomilter.RespAccept
}

func (s *Server) logVerdict(msg *filters.Message, v filters.Verdict, took time.Duration) {
	client := ""
	if msg.Envelope.ClientIP.IsValid() {
		client = msg.Envelope.ClientIP.String()
	}
	attrs := []any{
		"queue_id", msg.Envelope.QueueID,
		"client", client,
		"client_name", msg.Envelope.ClientName,
		"from", msg.Envelope.MailFrom,
		"rcpts", len(msg.Envelope.Rcpts),
		"size", msg.Size,
		"action", string(v.Action),
		"score", v.Score,
		"symbols", strings.Join(v.SymbolNames(), ","),
		"ms", took.Milliseconds(),
	}
	if v.WouldBe != v.Action {
		attrs = append(attrs, "dry_run_would_be", string(v.WouldBe))
	}
	if v.Settings != "" {
		attrs = append(attrs, "settings", v.Settings)
	}
	if v.Reason != "" {
		attrs = append(attrs, "reason", v.Reason)
	}
	if differ(v.Rcpts) {
		// One reply for the whole transaction: say what each recipient's
		// own settings would have done.
		per := make([]string, len(v.Rcpts))
		for i, r := range v.Rcpts {
			per[i] = r.String()
		}
		attrs = append(attrs, "rcpt_verdicts", strings.Join(per, "; "))
	}
	s.log.Info("verdict", attrs...)
}

// differ reports recipients whose own verdicts are not all the same.
func differ(rs []filters.RcptVerdict) bool {
	for _, r := range rs[min(1, len(rs)):] {
		if r.Action != rs[0].Action || r.WouldBe != rs[0].WouldBe || r.Score != rs[0].Score || r.Settings != rs[0].Settings {
			return true
		}
	}
	return false
}

// replyText makes a reason safe for an SMTP reply line.
func replyText(reason, fallback string) string {
	if reason == "" {
		reason = fallback
	}
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, reason)
	if len(reason) > 400 {
		reason = reason[:400]
	}
	return reason
}
