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

// ParseMessage reads an RFC 5322 message (LF or CRLF line endings, an
// optional leading mbox "From " line) into a Message the way the milter
// would have built it: headers in order with original case, body with CRLF
// line endings. Bodies over maxBody bytes are dropped and the message is
// marked BodyTruncated, as the milter does.
func ParseMessage(r io.Reader, maxBody int64) (*Message, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	m := &Message{Received: time.Now()}
	var hdrBytes int64
	first := true
	inHeader := true
	var body bytes.Buffer
	var bodySize int64
	for {
		line, err := br.ReadString('\n')
		if len(line) == 0 && err != nil {
			if err == io.EOF {
				break
			}
			return nil, fmt.Errorf("filters: reading message: %w", err)
		}
		hadNL := strings.HasSuffix(line, "\n")
		line = strings.TrimRight(line, "\r\n")
		if inHeader {
			hdrBytes += int64(len(line)) + 2
			if first && strings.HasPrefix(line, "From ") {
				first = false
				continue
			}
			first = false
			switch {
			case line == "":
				inHeader = false
				continue
			case (line[0] == ' ' || line[0] == '\t') && len(m.Headers) > 0:
				h := &m.Headers[len(m.Headers)-1]
				h.Value += "\r\n" + line
				continue
			}
			if name, value, ok := strings.Cut(line, ":"); ok && validFieldName(name) {
				m.Headers = append(m.Headers, Header{Name: name, Value: value})
				continue
			}
			// Not a header field: RFC 5322 has no such thing, so the header
			// block ended without its blank line. Treat the rest as body.
			inHeader = false
		}
		n := int64(len(line))
		if hadNL {
			n += 2
		}
		bodySize += n
		if bodySize <= maxBody {
			body.WriteString(line)
			if hadNL {
				body.WriteString("\r\n")
			}
		}
		if err != nil {
			break
		}
	}
	if len(m.Headers) == 0 && bodySize == 0 {
		return nil, ErrEmptyMessage
	}
	if bodySize > maxBody {
		m.BodyTruncated = true
		m.Note(ArrivalSymbol(SymbolMessageTooBig, fmt.Sprintf("body %d bytes exceeds limits.max_message_size %d; headers and envelope checked only", bodySize, maxBody)))
	} else {
		m.Body = BytesBody(body.Bytes())
	}
	m.Size = hdrBytes + bodySize
	return m, nil
}

// validFieldName: RFC 5322 §3.6.8 ftext is printable US-ASCII except ':'.
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return false
		}
	}
	return true
}
