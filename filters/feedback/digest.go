package feedback

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

// digestHeaders are the fields that identify a message as its author sent
// it. Trace and delivery fields (Received, Return-Path, Delivered-To, To of
// one copy, X-*) are left out, so the same message reported from two
// mailboxes, or once fresh and once from a Maildir, has one digest.
var digestHeaders = []string{"Message-ID", "From", "Date", "Subject"}

// Digest is the SHA-256 (hex) of m's normalised content: the identifying
// header fields with whitespace runs collapsed, and the body with all
// whitespace removed (line endings and re-wrapping do not change it).
func Digest(m *filters.Message) (string, error) {
	h := sha256.New()
	for _, name := range digestHeaders {
		fmt.Fprintf(h, "%s:%s\n", strings.ToLower(name), strings.Join(strings.Fields(m.Header(name)), " "))
	}
	h.Write([]byte{0})
	if m.Body != nil {
		r := bufio.NewReaderSize(m.Body.Reader(), 32*1024)
		var buf [32 * 1024]byte
		for {
			n, err := r.Read(buf[:])
			out := buf[:0]
			for _, c := range buf[:n] {
				if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
					out = append(out, c)
				}
			}
			h.Write(out)
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("feedback: reading body: %w", err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
