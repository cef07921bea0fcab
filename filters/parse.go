package filters

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ErrEmptyMessage is returned by ParseMessage for input without a header.
var ErrEmptyMessage = errors.New("filters: empty message")

// Default header limits: limits.max_headers and limits.max_header_bytes.
const (
	DefaultMaxHeaders     = 1000
	DefaultMaxHeaderBytes = 1 << 20
)

// Limits bound what is kept of one message. Zero header limits take the
// defaults; MaxBody 0 keeps no body.
type Limits struct {
	// MaxHeaders and MaxHeaderBytes bound the header block, counted as the
	// fields are on the wire (name, colon, value, CRLF).
	MaxHeaders     int
	MaxHeaderBytes int64
	// MaxBody: a larger body is dropped and the message marked
	// BodyTruncated (judged on headers and envelope only).
	MaxBody int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return l
}

// HeaderBlock collects the header fields of one message up to Limits, the
// same way for the milter (one field per callback) and for ParseMessage
// (lines, some of them continuations). Appending a continuation line costs
// its own length, never the length of the field so far: a header folded
// over millions of lines is read in linear time.
//
// Past either limit the block overflows: it stops keeping fields and the
// message must be refused (see Message.HeadersOverflow), because the MTA
// delivers every field while Vigil would have judged only the first ones.
type HeaderBlock struct {
	lim      Limits
	headers  []Header
	bytes    int64
	cur      strings.Builder
	curName  string
	open     bool
	overflow bool
}

// NewHeaderBlock returns an empty block bounded by lim.
func NewHeaderBlock(lim Limits) *HeaderBlock {
	return &HeaderBlock{lim: lim.withDefaults()}
}

// Field starts a new field. value is as received (leading space kept, CRLF
// between folded lines).
func (b *HeaderBlock) Field(name, value string) {
	b.finish()
	if b.overflow {
		return
	}
	if len(b.headers) >= b.lim.MaxHeaders {
		b.overflow = true
		return
	}
	b.curName, b.open = name, true
	b.grow(int64(len(name)) + 3)
	b.append(value)
}

// Continue appends a continuation line (RFC 5322 §2.2.3) to the current
// field; without one it starts nothing and reports false.
func (b *HeaderBlock) Continue(line string) bool {
	if b.overflow {
		return true
	}
	if !b.open {
		return false
	}
	b.append("\r\n")
	b.append(line)
	return true
}

func (b *HeaderBlock) append(s string) {
	if b.overflow {
		return
	}
	if b.grow(int64(len(s))); b.overflow {
		return
	}
	b.cur.WriteString(s)
}

func (b *HeaderBlock) grow(n int64) {
	b.bytes += n
	if b.bytes > b.lim.MaxHeaderBytes {
		b.overflow = true
		b.open = false
		b.cur.Reset()
	}
}

func (b *HeaderBlock) finish() {
	if !b.open {
		return
	}
	b.headers = append(b.headers, Header{Name: b.curName, Value: b.cur.String()})
	b.cur.Reset()
	b.open = false
}

// Overflow reports whether the block went past its limits.
func (b *HeaderBlock) Overflow() bool { return b.overflow }

// Len is the number of complete fields kept so far.
func (b *HeaderBlock) Len() int { return len(b.headers) }

// Bytes is the size of the fields seen so far, as on the wire.
func (b *HeaderBlock) Bytes() int64 { return b.bytes }

// Headers ends the current field and returns the fields kept.
func (b *HeaderBlock) Headers() []Header {
	b.finish()
	return b.headers
}

// OverflowDetail says which limit a message's header block exceeded.
func (b *HeaderBlock) OverflowDetail() string {
	return fmt.Sprintf("more than %d header fields or %d header bytes (limits.max_headers, limits.max_header_bytes)", b.lim.MaxHeaders, b.lim.MaxHeaderBytes)
}

// ParseMessage reads an RFC 5322 message with the default header limits
// and a body limit; see ParseMessageWith.
func ParseMessage(r io.Reader, maxBody int64) (*Message, error) {
	return ParseMessageWith(r, Limits{MaxBody: maxBody})
}

// ParseMessageWith reads an RFC 5322 message (LF or CRLF line endings, an
// optional leading mbox "From " line) into a Message the way the milter
// would have built it: headers in order with original case, body with CRLF
// line endings. A body over lim.MaxBody is dropped and the message marked
// BodyTruncated, as the milter does. A header block over the limits stops
// the reading there: the message is marked HeadersOverflow and has no body.
//
// Time and memory are linear in the input: lines are read in bounded
// pieces, folded fields grow by appending, the body is kept in fixed-size
// chunks (growing one buffer would hold two copies at once).
func ParseMessageWith(r io.Reader, lim Limits) (*Message, error) {
	lim = lim.withDefaults()
	br := bufio.NewReaderSize(r, 64<<10)
	m := &Message{Received: time.Now()}
	hb := NewHeaderBlock(lim)
	var hdrBytes int64
	first := true
	// The header block: one line at a time, each at most the header budget
	// plus one byte (a longer line overflows it anyway).
	for {
		line, hadNL, err := readLine(br, lim.MaxHeaderBytes+1)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("filters: reading message: %w", err)
		}
		if len(line) == 0 && !hadNL && err == io.EOF {
			break
		}
		hdrBytes += int64(len(line)) + 2
		if first && bytes.HasPrefix(line, []byte("From ")) {
			first = false
			continue
		}
		first = false
		if len(line) == 0 {
			break // the blank line ends the header block
		}
		if line[0] == ' ' || line[0] == '\t' {
			if hb.Continue(string(line)) {
				if hb.Overflow() {
					return overflowed(m, hb), nil
				}
				continue
			}
		}
		if name, value, ok := bytes.Cut(line, []byte(":")); ok && validFieldName(name) {
			if hb.Field(string(name), string(value)); hb.Overflow() {
				return overflowed(m, hb), nil
			}
			if err == io.EOF {
				break
			}
			continue
		}
		// Not a header field: RFC 5322 has no such thing, so the header
		// block ended without its blank line. Treat the rest as body.
		m.Headers = hb.Headers()
		body := newChunkWriter(lim.MaxBody)
		body.writeLine(line, hadNL)
		return finishBody(m, br, body, hdrBytes-int64(len(line))-2, lim)
	}
	m.Headers = hb.Headers()
	return finishBody(m, br, newChunkWriter(lim.MaxBody), hdrBytes, lim)
}

// overflowed is the message whose header block went past the limits: the
// fields kept so far, no body, marked so the verdict refuses it.
func overflowed(m *Message, hb *HeaderBlock) *Message {
	m.Headers = hb.Headers()
	m.Size = hb.Bytes()
	m.HeadersOverflow = hb.OverflowDetail()
	m.Body = BytesBody(nil)
	return m
}

// finishBody reads the rest of br as the body.
func finishBody(m *Message, br *bufio.Reader, body *chunkWriter, hdrBytes int64, lim Limits) (*Message, error) {
	for {
		line, hadNL, err := readLine(br, 64<<10)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("filters: reading message: %w", err)
		}
		if len(line) > 0 || hadNL {
			body.writeLine(line, hadNL)
		}
		if err == io.EOF {
			break
		}
	}
	if len(m.Headers) == 0 && body.size == 0 {
		return nil, ErrEmptyMessage
	}
	if body.size > lim.MaxBody {
		m.BodyTruncated = true
		m.Note(ArrivalSymbol(SymbolMessageTooBig, fmt.Sprintf("body %d bytes exceeds limits.max_message_size %d; headers and envelope checked only", body.size, lim.MaxBody)))
	} else {
		m.Body = body.body()
	}
	m.Size = hdrBytes + body.size
	return m, nil
}

// readLine returns the next line without its line ending (trailing CR
// and LF trimmed), whether it ended in LF, and io.EOF at the end of input.
// A line longer than max comes back in pieces of about max bytes (at most
// one read buffer more), without hadNL. The slice is valid until the next
// read.
func readLine(br *bufio.Reader, max int64) ([]byte, bool, error) {
	chunk, err := br.ReadSlice('\n')
	switch {
	case err == nil:
		return bytes.TrimRight(chunk, "\r\n"), true, nil
	case err == io.EOF:
		return chunk, false, io.EOF
	case !errors.Is(err, bufio.ErrBufferFull):
		return nil, false, err
	}
	acc := append([]byte(nil), chunk...)
	for int64(len(acc)) < max {
		chunk, err = br.ReadSlice('\n')
		acc = append(acc, chunk...)
		switch {
		case err == nil:
			return bytes.TrimRight(acc, "\r\n"), true, nil
		case err == io.EOF:
			return acc, false, io.EOF
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, false, err
		}
	}
	return acc, false, nil
}

// validFieldName: RFC 5322 §3.6.8 ftext is printable US-ASCII except ':'.
func validFieldName(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// chunkSize is the piece a parsed body is kept in.
const chunkSize = 256 << 10

// chunkWriter keeps a body of unknown size in fixed-size chunks, up to max
// bytes; it counts the bytes past max without keeping them.
type chunkWriter struct {
	max    int64
	size   int64
	chunks [][]byte
}

func newChunkWriter(max int64) *chunkWriter { return &chunkWriter{max: max} }

func (w *chunkWriter) writeLine(line []byte, nl bool) {
	w.write(line)
	if nl {
		w.write([]byte("\r\n"))
	}
}

func (w *chunkWriter) write(p []byte) {
	w.size += int64(len(p))
	if w.size > w.max {
		w.chunks = nil // over the limit: the body is dropped whole
		return
	}
	for len(p) > 0 {
		if n := len(w.chunks); n == 0 || len(w.chunks[n-1]) == cap(w.chunks[n-1]) {
			w.chunks = append(w.chunks, make([]byte, 0, int(min(chunkSize, w.max))))
		}
		c := &w.chunks[len(w.chunks)-1]
		k := min(len(p), cap(*c)-len(*c))
		*c = append(*c, p[:k]...)
		p = p[k:]
	}
}

func (w *chunkWriter) body() Body {
	switch len(w.chunks) {
	case 0:
		return BytesBody(nil)
	case 1:
		return BytesBody(w.chunks[0])
	}
	return chunkedBody{chunks: w.chunks, size: w.size}
}

// chunkedBody is a Body held in memory in pieces.
type chunkedBody struct {
	chunks [][]byte
	size   int64
}

func (c chunkedBody) Reader() io.Reader {
	rs := make([]io.Reader, len(c.chunks))
	for i, ch := range c.chunks {
		rs[i] = bytes.NewReader(ch)
	}
	return io.MultiReader(rs...)
}

func (c chunkedBody) Size() int64 { return c.size }
