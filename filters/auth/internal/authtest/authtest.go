// Package authtest holds test support shared by the authentication checks.
package authtest

import (
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/sharedtest"
)

// TestdataDir finds shared/testdata/<sub>, or skips the test.
func TestdataDir(tb testing.TB, sub string) string {
	tb.Helper()
	return sharedtest.Dir(tb, sub)
}

// ParseMessage splits a raw RFC 5322 message into the pipeline's model the
// way the milter delivers it: line ends normalised to CRLF, header fields
// unfolded into name and raw value (leading space and inner CRLFs kept),
// body after the first empty line. A message without an empty line is all
// header with an empty body.
func ParseMessage(raw []byte) *filters.Message {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	head, body, found := strings.Cut(s, "\r\n\r\n")
	if !found {
		head, body = strings.TrimSuffix(s, "\r\n"), ""
	}
	m := &filters.Message{Body: filters.BytesBody(body)}
	for _, line := range strings.Split(head, "\r\n") {
		if line == "" {
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(m.Headers) > 0 {
			m.Headers[len(m.Headers)-1].Value += "\r\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			// Not a header field; keep it so signatures see the bytes.
			name, value = line, ""
		}
		m.Headers = append(m.Headers, filters.Header{Name: name, Value: value})
	}
	m.Size = int64(len(s))
	return m
}
