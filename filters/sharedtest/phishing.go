package sharedtest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// PhishingMessage is one message of the Phishing Pot development subset:
// real phishing caught by honeypots in 2022–2026, with the honeypot's
// address replaced by phishing@pot.
type PhishingMessage struct {
	// Name is the file name, e.g. "sample-8.eml".
	Name string
	// Raw is the file as stored (an RFC 5322 message, LF or CRLF line
	// endings as the source had them).
	Raw []byte
}

var (
	phishOnce sync.Once
	phishMsgs []PhishingMessage
	phishErr  error
)

// PhishingPot returns the 988 messages of the development subset sorted
// by sample number, read once per test binary; an absent corpus skips the
// test (fails it under CI). Callers must not modify Raw.
func PhishingPot(tb testing.TB) []PhishingMessage {
	tb.Helper()
	path := filepath.Join(Dir(tb, "corpus-phishing-pot"), "phishing-pot-dev.tar.gz")
	if _, err := os.Stat(path); err != nil {
		Unavailable(tb, "Phishing Pot corpus: %v", err)
	}
	phishOnce.Do(func() { phishMsgs, phishErr = readPhishing(path) })
	if phishErr != nil {
		tb.Fatalf("sharedtest: %v", phishErr)
	}
	return phishMsgs
}

func readPhishing(path string) ([]PhishingMessage, error) {
	var out []PhishingMessage
	err := readTarGz(path, func(name string, raw []byte) {
		if name = filepath.Base(name); strings.HasSuffix(name, ".eml") {
			out = append(out, PhishingMessage{Name: name, Raw: raw})
		}
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no messages", path)
	}
	sort.Slice(out, func(i, j int) bool { return sampleNumber(out[i].Name) < sampleNumber(out[j].Name) })
	return out, nil
}

// sampleNumber is N of "sample-N.eml" (-1 for other names).
func sampleNumber(name string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "sample-"), ".eml"))
	if err != nil {
		return -1
	}
	return n
}
