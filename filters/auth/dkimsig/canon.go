package dkimsig

import (
	"bytes"
	"io"
	"strings"
)

// Canonicalization is a DKIM canonicalization algorithm (RFC 6376 §3.4).
type Canonicalization string

const (
	Simple  Canonicalization = "simple"
	Relaxed Canonicalization = "relaxed"
)

// ParseCanonicalization parses a c= value "header[/body]"; the body
// algorithm defaults to simple, and an absent c= to simple/simple
// (RFC 6376 §3.5).
func ParseCanonicalization(c string, present bool) (header, body Canonicalization, ok bool) {
	if !present {
		return Simple, Simple, true
	}
	h, b, hasBody := strings.Cut(c, "/")
	if !hasBody {
		b = string(Simple)
	}
	header, body = Canonicalization(h), Canonicalization(b)
	valid := func(c Canonicalization) bool { return c == Simple || c == Relaxed }
	return header, body, valid(header) && valid(body)
}

// CanonicalHeader canonicalizes one header field given its name and raw
// value (everything after the colon, folding included), with the final
// CRLF (RFC 6376 §3.4.1, §3.4.2).
func CanonicalHeader(c Canonicalization, name, value string) string {
	if c == Simple {
		return name + ":" + value + "\r\n"
	}
	// relaxed: lower-case the name, unfold, reduce WSP runs to one SP,
	// and remove WSP around the colon and at the end.
	var b strings.Builder
	b.Grow(len(name) + len(value) + 3)
	b.WriteString(strings.ToLower(strings.Trim(name, " \t")))
	b.WriteByte(':')
	v := strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(value)
	space := false
	started := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space && started {
			b.WriteByte(' ')
		}
		space = false
		started = true
		b.WriteByte(c)
	}
	b.WriteString("\r\n")
	return b.String()
}

// BodyWriter canonicalizes a body streamed through Write into w (RFC 6376
// §3.4.3, §3.4.4). Close flushes it; trailing empty lines are only
// written if content follows them, so they are dropped at the end.
type BodyWriter struct {
	w       io.Writer
	relaxed bool
	line    []byte
	empties int
	content bool
	err     error
}

// NewBodyWriter returns a canonicalizing writer into w.
func NewBodyWriter(c Canonicalization, w io.Writer) *BodyWriter {
	return &BodyWriter{w: w, relaxed: c == Relaxed}
}

func (b *BodyWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && b.err == nil {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			b.line = append(b.line, p...)
			break
		}
		b.line = append(b.line, p[:i]...)
		p = p[i+1:]
		b.endLine()
	}
	return n, b.err
}

func (b *BodyWriter) endLine() {
	l := bytes.TrimSuffix(b.line, []byte{'\r'})
	if b.relaxed {
		l = relaxLine(l)
	}
	if len(l) == 0 {
		b.empties++
	} else {
		for ; b.empties > 0 && b.err == nil; b.empties-- {
			_, b.err = b.w.Write([]byte("\r\n"))
		}
		if b.err == nil {
			_, b.err = b.w.Write(l)
		}
		if b.err == nil {
			_, b.err = b.w.Write([]byte("\r\n"))
		}
		b.content = true
	}
	b.line = b.line[:0]
}

// relaxLine reduces WSP runs to one SP and drops trailing WSP.
func relaxLine(l []byte) []byte {
	out := l[:0:0]
	space := false
	for _, c := range l {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, c)
	}
	return out
}

// Close ends the body: an unterminated last line counts as a line, and an
// empty body is CRLF for simple and nothing for relaxed.
func (b *BodyWriter) Close() error {
	if len(b.line) > 0 {
		b.endLine()
	}
	if b.err == nil && !b.content && !b.relaxed {
		_, b.err = b.w.Write([]byte("\r\n"))
	}
	return b.err
}

// limitWriter passes at most n bytes (the l= body length, RFC 6376 §3.5).
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	n := len(p)
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	l.n -= int64(len(p))
	if len(p) > 0 {
		if _, err := l.w.Write(p); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// StripSignature returns a signature header value with the value of its
// b= tag removed ("b=" kept), as signing and verifying hash it
// (RFC 6376 §3.7).
func StripSignature(value string) string {
	specs := strings.Split(value, ";")
	for i, spec := range specs {
		name, _, ok := strings.Cut(spec, "=")
		if ok && strings.Trim(name, " \t\r\n") == "b" {
			specs[i] = spec[:strings.IndexByte(spec, '=')+1]
		}
	}
	return strings.Join(specs, ";")
}
