// Package filters holds the message model, the check pipeline, scoring and
// verdicts. Checks live in subpackages; they only report symbols, and one pure
// function (Decide) turns symbols plus policy into a verdict.
package filters

import (
	"bytes"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// TLSInfo is what the MTA told us about the client's TLS session
// (Postfix/Sendmail macros {tls_version}, {cipher}, {cipher_bits},
// {cert_subject}, {cert_issuer}). Empty when the session was not encrypted.
type TLSInfo struct {
	Version     string `json:"version,omitempty"`
	Cipher      string `json:"cipher,omitempty"`
	CipherBits  string `json:"cipher_bits,omitempty"`
	CertSubject string `json:"cert_subject,omitempty"`
	CertIssuer  string `json:"cert_issuer,omitempty"`
}

// Envelope is the SMTP transaction around a message.
type Envelope struct {
	// ClientIP is the connecting SMTP client; invalid when unknown
	// (local submission, unix socket).
	ClientIP netip.Addr
	// ClientName is the client's verified reverse DNS name, or "" when the
	// MTA reported none ("unknown" from Postfix is mapped to "").
	ClientName string
	// Helo is the HELO/EHLO argument.
	Helo string
	// MailFrom is the envelope sender without angle brackets; "" is the null
	// reverse-path (bounces).
	MailFrom string
	// Rcpts are the envelope recipients without angle brackets.
	Rcpts []string
	// AuthUser is the SASL login ({auth_authen}), "" when unauthenticated.
	AuthUser string
	// QueueID is the MTA's queue id (macro i), "" when the MTA did not send it.
	QueueID string
	TLS     TLSInfo
}

// Header is one header field as received: original name case, value with
// line breaks normalised to CRLF and without the final CRLF. Value keeps the
// leading space after the colon, so Name + ":" + Value + "\r\n" is the field
// as it was on the wire (what DKIM "simple" canonicalisation needs).
type Header struct {
	Name  string
	Value string
}

// Body is random access to a spooled message body (CRLF line endings).
// Reader returns a fresh reader positioned at the start each time, so several
// checks can stream the body concurrently without a second full copy.
type Body interface {
	Reader() io.Reader
	Size() int64
}

// BytesBody is a Body held in memory.
type BytesBody []byte

func (b BytesBody) Reader() io.Reader { return bytes.NewReader(b) }
func (b BytesBody) Size() int64       { return int64(len(b)) }

// Message is one message moving through the pipeline. Envelope, Headers and
// Body are set before the pipeline runs and are read-only afterwards.
//
// Facts are written by checks: each field of Facts names the check that owns
// it; only that check writes it, and only checks of later stages read it (the
// stage barrier orders the write before the reads).
type Message struct {
	Envelope Envelope
	Headers  []Header
	// Body is nil when the message was larger than limits.max_message_size;
	// BodyTruncated is then true and only header and envelope checks see it.
	Body          Body
	BodyTruncated bool
	// HeadersOverflow is set (to what was exceeded) when the header block
	// had more fields or bytes than limits.max_headers and
	// limits.max_header_bytes: Headers then holds only the first ones and
	// the message is refused without running the checks (RefuseUnread),
	// because the MTA would deliver every field, the unread ones included.
	HeadersOverflow string
	// Size is the size of the message as the MTA sent it (headers + body).
	Size     int64
	Received time.Time

	Facts Facts

	idOnce sync.Once
	id     *Identities

	mu    sync.Mutex
	notes []Symbol
	// phase is 1 + the pipeline stage running (0: not in a pipeline);
	// Domains computes once per phase.
	phase        int
	domains      []NamedDomain
	domainsPhase int
	// named is what the message itself names (Domains without the
	// nameservers), kept once it is final.
	named     []NamedDomain
	namedDone bool

	// derived holds values derived once per message (Derived).
	derived sync.Map
}

// Derived returns the value derived from m under key, computing it with fn
// the first time. It is for values that depend only on what is final when
// first asked (the header, the body, the content facts), such as the
// classifier's tokens or the text's fingerprint: derived once per message
// whether the message is judged, learned, or judged and then learned.
func Derived[T any](m *Message, key string, fn func() T) T {
	if v, ok := m.derived.Load(key); ok {
		return v.(T)
	}
	v, _ := m.derived.LoadOrStore(key, fn())
	return v.(T)
}

// HeaderValues returns the values of every header named name
// (case-insensitive), in order, with surrounding whitespace trimmed.
func (m *Message) HeaderValues(name string) []string {
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			out = append(out, strings.TrimSpace(h.Value))
		}
	}
	return out
}

// Header returns the first value of the named header, or "".
func (m *Message) Header(name string) string {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return strings.TrimSpace(h.Value)
		}
	}
	return ""
}

// RawHeader returns the header block as it was received, CRLF terminated,
// including the empty line that separates it from the body.
func (m *Message) RawHeader() []byte {
	var b bytes.Buffer
	for _, h := range m.Headers {
		b.WriteString(h.Name)
		b.WriteByte(':')
		b.WriteString(h.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// Raw returns a reader over the whole message (headers, blank line, body),
// streaming the body from the spool.
func (m *Message) Raw() io.Reader {
	if m.Body == nil {
		return bytes.NewReader(m.RawHeader())
	}
	return io.MultiReader(bytes.NewReader(m.RawHeader()), m.Body.Reader())
}

// Note records a symbol that is not the result of a check but of how the
// message arrived (for example MESSAGE_TOO_BIG from the milter).
func (m *Message) Note(s Symbol) {
	m.mu.Lock()
	m.notes = append(m.notes, s)
	m.mu.Unlock()
}

// enterStage records that the pipeline starts stage s: the facts of the
// stages before it are final.
func (m *Message) enterStage(s StageID) {
	m.mu.Lock()
	m.phase = int(s) + 1
	m.mu.Unlock()
}

// Notes returns the symbols recorded with Note.
func (m *Message) Notes() []Symbol { return m.takeNotes() }

func (m *Message) takeNotes() []Symbol {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Symbol(nil), m.notes...)
}
