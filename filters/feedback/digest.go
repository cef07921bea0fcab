package feedback

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

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
		h.Write([]byte(strings.ToLower(name)))
		h.Write([]byte{':'})
		h.Write([]byte(strings.Join(strings.Fields(m.Header(name)), " ")))
		h.Write([]byte{'\n'})
	}
	h.Write([]byte{0})
	if m.Body != nil {
		// Every verdict computes the digest (the history records it):
		// one pooled buffer, whitespace dropped in place.
		bp := digestBufs.Get().(*[]byte)
		defer digestBufs.Put(bp)
		buf := *bp
		r := m.Body.Reader()
		for {
			n, err := r.Read(buf)
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
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])), nil
}

var digestBufs = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}
