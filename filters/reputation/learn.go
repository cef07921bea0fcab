package reputation

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/vigilmail/vigil/filters"
)

// LearnResult is what learning one message did.
type LearnResult struct {
	// Digest identifies the message content (see Digest).
	Digest  string  `json:"digest"`
	Class   Class   `json:"class"`
	Outcome Outcome `json:"outcome"`
	// Keys is the number of reputation keys the message carries.
	Keys int `json:"keys"`
}

// Learn records user feedback: m is spam or ham. m's Facts should be filled
// by the same checks that run on the message path (auth, content,
// nameservers), so that the keys learned are the keys later scored.
// Learning the same content twice counts once; learning it as the other
// class moves it.
func Learn(ctx context.Context, store Store, m *filters.Message, class Class) (LearnResult, error) {
	if _, err := ParseClass(string(class)); err != nil {
		return LearnResult{}, err
	}
	digest, err := Digest(m)
	if err != nil {
		return LearnResult{}, err
	}
	keys := Keys(m)
	res := LearnResult{Digest: digest, Class: class, Keys: len(keys)}
	res.Outcome, err = store.Learn(ctx, digest, class, keys)
	if err != nil {
		return res, err
	}
	return res, nil
}

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
				return "", fmt.Errorf("reputation: reading body: %w", err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
