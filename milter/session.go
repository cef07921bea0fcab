package milter

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/filters"
)

// session is the state of one MTA milter connection. The library calls its
// methods from one goroutine per connection, in protocol order.
type session struct {
	srv *Server

	// Connection state: survives ABORT and the end of a message, reset only
	// by a new Connect (or a reused connection, NewConnection).
	clientIP   netip.Addr
	clientName string
	helo       string
	tls        filters.TLSInfo
	leadSpace  bool // MTA keeps the space after the header colon

	// Message state: reset by MAIL FROM, ABORT and the end of a message.
	mailFrom string
	rcpts    []string
	authUser string
	headers  *filters.HeaderBlock
	spool    *Spool
	started  time.Time
}

func (s *session) logger() *slog.Logger { return s.srv.log }

// guard turns a panic in a callback into a tempfail answer for the current
// message instead of a dead daemon (the library has no recover).
func (s *session) guard(stage string, resp **gomilter.Response, err *error) {
	if r := recover(); r != nil {
		s.srv.panics.Add(1)
		s.logger().Error("milter callback panicked", "stage", stage, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*resp = gomilter.RespTempFail
		*err = nil
		s.resetMessage()
	}
}

func (s *session) NewConnection(m gomilter.Modifier) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.panics.Add(1)
			s.logger().Error("milter callback panicked", "stage", "newconn", "panic", fmt.Sprint(r))
			err = fmt.Errorf("milter: panic: %v", r)
		}
	}()
	s.resetConnection()
	s.leadSpace = m.Protocol()&gomilter.OptHeaderLeadingSpace != 0
	return nil
}

func (s *session) Connect(host, family string, port uint16, addr string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("connect", &resp, &err)
	s.resetConnection()
	s.clientIP = parseClientAddr(addr)
	if !s.clientIP.IsValid() {
		// Sendmail sends "IPv6:" in {client_addr}; the Connect address can
		// be empty for family 'U'. Fall back to the macro.
		s.clientIP = parseClientAddr(m.Get(gomilter.MacroClientAddr))
	}
	s.clientName = clientName(host)
	return gomilter.RespContinue, nil
}

func (s *session) Helo(name string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("helo", &resp, &err)
	s.helo = strings.TrimSpace(name)
	// The library clears HELO-stage macros on ABORT; keep the TLS facts of
	// the connection ourselves (they matter for every message on it).
	s.tls = filters.TLSInfo{
		Version:     m.Get(gomilter.MacroTlsVersion),
		Cipher:      m.Get(gomilter.MacroCipher),
		CipherBits:  m.Get(gomilter.MacroCipherBits),
		CertSubject: m.Get(gomilter.MacroCertSubject),
		CertIssuer:  m.Get(gomilter.MacroCertIssuer),
	}
	return gomilter.RespContinue, nil
}

func (s *session) MailFrom(from, esmtpArgs string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("mail", &resp, &err)
	s.resetMessage()
	s.mailFrom = from
	s.authUser = m.Get(gomilter.MacroAuthAuthen)
	s.started = time.Now()
	return gomilter.RespContinue, nil
}

func (s *session) RcptTo(rcpt, esmtpArgs string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("rcpt", &resp, &err)
	if len(s.rcpts) < s.srv.conf().MaxRecipients {
		s.rcpts = append(s.rcpts, rcpt)
	}
	return gomilter.RespContinue, nil
}

func (s *session) Data(m gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

func (s *session) Header(name, value string, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("header", &resp, &err)
	if !s.leadSpace {
		value = " " + value
	}
	// Past limits.max_headers / max_header_bytes the block stops keeping
	// fields and the message is refused at end of message: the MTA would
	// deliver the fields we did not read (no reply is possible here, the
	// MTA was told not to wait for one per header).
	s.headerBlock().Field(name, crlf(value))
	return gomilter.RespContinue, nil
}

func (s *session) headerBlock() *filters.HeaderBlock {
	if s.headers == nil {
		s.headers = filters.NewHeaderBlock(filters.Limits{MaxHeaders: s.srv.conf().MaxHeaders, MaxHeaderBytes: int64(s.srv.conf().MaxHeaderBytes)})
	}
	return s.headers
}

func (s *session) Headers(m gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

func (s *session) BodyChunk(chunk []byte, m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("body", &resp, &err)
	if s.headers != nil && s.headers.Overflow() {
		// The message is refused unread: keep none of its body, and on
		// protocol v6 tell the MTA to stop sending it.
		if m.Protocol()&gomilter.OptSkip != 0 {
			return gomilter.RespSkip, nil
		}
		return gomilter.RespContinue, nil
	}
	if s.spool == nil {
		s.spool = s.srv.newSpool()
	}
	if _, err := s.spool.Write(chunk); err != nil {
		s.logger().Error("spooling body", "err", err)
		s.spool.truncated = true
	}
	if s.spool.Truncated() && m.Protocol()&gomilter.OptSkip != 0 {
		// Protocol v6: tell the MTA to stop sending the body we won't read.
		return gomilter.RespSkip, nil
	}
	return gomilter.RespContinue, nil
}

func (s *session) EndOfMessage(m gomilter.Modifier) (resp *gomilter.Response, err error) {
	defer s.guard("eom", &resp, &err)
	defer s.resetMessage()
	msg := s.message(m)
	res := s.srv.judge(msg, m)
	return s.srv.apply(msg, res, m), nil
}

func (s *session) Abort(m gomilter.Modifier) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.panics.Add(1)
			s.logger().Error("milter callback panicked", "stage", "abort", "panic", fmt.Sprint(r))
		}
	}()
	s.resetMessage()
	return nil
}

func (s *session) Unknown(cmd string, m gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

func (s *session) Cleanup(m gomilter.Modifier) {
	defer func() {
		if r := recover(); r != nil {
			s.srv.panics.Add(1)
		}
	}()
	s.resetMessage()
}

func (s *session) resetConnection() {
	s.clientIP = netip.Addr{}
	s.clientName = ""
	s.helo = ""
	s.tls = filters.TLSInfo{}
	s.resetMessage()
}

func (s *session) resetMessage() {
	s.mailFrom = ""
	s.rcpts = nil
	s.authUser = ""
	s.headers = nil
	if s.spool != nil {
		s.spool.Close()
		s.spool = nil
	}
}

// message builds the filters.Message for the current transaction.
func (s *session) message(m gomilter.Modifier) *filters.Message {
	msg := &filters.Message{
		Envelope: filters.Envelope{
			ClientIP:   s.clientIP,
			ClientName: s.clientName,
			Helo:       s.helo,
			MailFrom:   s.mailFrom,
			Rcpts:      s.rcpts,
			AuthUser:   s.authUser,
			QueueID:    m.Get(gomilter.MacroQueueId),
			TLS:        s.tls,
		},
		Received: time.Now(),
	}
	hb := s.headerBlock()
	msg.Headers = hb.Headers()
	if hb.Overflow() {
		msg.HeadersOverflow = hb.OverflowDetail()
	}
	if msg.Envelope.AuthUser == "" {
		msg.Envelope.AuthUser = m.Get(gomilter.MacroAuthAuthen)
	}
	var bodySize int64
	if s.spool != nil {
		bodySize = s.spool.Size()
		msg.Body = s.spool.Body()
		msg.BodyTruncated = s.spool.Truncated()
	} else {
		msg.Body = filters.BytesBody(nil)
	}
	msg.Size = hb.Bytes() + 2 + bodySize
	if msg.BodyTruncated {
		msg.Note(filters.ArrivalSymbol(filters.SymbolMessageTooBig,
			fmt.Sprintf("body %d bytes exceeds limits.max_message_size %d; headers and envelope checked only", bodySize, s.srv.conf().MaxMessageSize)))
	}
	return msg
}

// parseClientAddr accepts what Postfix and Sendmail put in the connect
// address or {client_addr}: "192.0.2.1", "2001:db8::1", "IPv6:2001:db8::1"
// (Sendmail), "[2001:db8::1]". IPv4-mapped IPv6 is unmapped.
func parseClientAddr(a string) netip.Addr {
	a = strings.TrimSpace(a)
	a = strings.TrimPrefix(a, "IPv6:")
	a = strings.TrimPrefix(a, "ipv6:")
	a = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap().WithZone("")
}

// clientName maps the MTA's client host name to the verified rDNS name or "".
// Postfix says "unknown" when the name did not verify; Sendmail puts the
// address in brackets ("[192.0.2.1]").
func clientName(host string) string {
	host = strings.TrimSpace(host)
	if host == "" || strings.EqualFold(host, "unknown") || strings.HasPrefix(host, "[") {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// crlf normalises line breaks of a folded header value to CRLF: Postfix
// and Sendmail send continuation lines with bare LF.
func crlf(v string) string {
	if !strings.ContainsAny(v, "\r\n") {
		return v
	}
	v = strings.ReplaceAll(v, "\r\n", "\n")
	v = strings.ReplaceAll(v, "\r", "\n")
	return strings.ReplaceAll(v, "\n", "\r\n")
}

var _ gomilter.Milter = (*session)(nil)
