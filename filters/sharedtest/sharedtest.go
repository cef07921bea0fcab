// Package sharedtest finds the conformance suites and corpora of
// ../shared/testdata (the repository and shared/ are siblings in
// development and in CI) and reads the SpamAssassin corpus, for tests of
// any package. Absent data skips the test with a message, and fails it
// under CI (Unavailable). Claim guards the figures the READMEs state.
package sharedtest

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Dir returns shared/testdata/<sub>, found by walking up from the working
// directory (a package directory under go test); when it is absent the
// test skips, or fails under CI.
func Dir(tb testing.TB, sub string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		for _, cand := range []string{
			filepath.Join(dir, "shared", "testdata", sub),
			filepath.Join(dir, "..", "shared", "testdata", sub),
		} {
			if _, err := os.Stat(cand); err == nil {
				return cand
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			Unavailable(tb, "shared/testdata/%s not found above the package directory (clone the repository next to shared/)", sub)
			return ""
		}
		dir = parent
	}
}

// CorpusMessage is one message of the SpamAssassin public corpus.
type CorpusMessage struct {
	// Name is group/file, e.g. "spam/00001.7848dde101aa985090474a91ec93fcf0".
	Name string
	// Group is easy_ham, easy_ham_2, hard_ham, spam or spam_2.
	Group string
	Spam  bool
	// Raw is the file as stored: an mbox "From " line, then the message
	// with LF line endings (filters.ParseMessage skips the "From " line).
	Raw []byte
}

var (
	corpusOnce sync.Once
	corpusMsgs []CorpusMessage
	corpusErr  error
)

// SpamAssassin returns the 6,046 corpus messages sorted by name, read
// once per test binary; an absent corpus skips the test (fails it under CI).
// Callers must not modify Raw.
func SpamAssassin(tb testing.TB) []CorpusMessage {
	tb.Helper()
	path := filepath.Join(Dir(tb, "corpus-spamassassin"), "spamassassin-public-corpus.tar.gz")
	if _, err := os.Stat(path); err != nil {
		Unavailable(tb, "SpamAssassin corpus: %v", err)
	}
	corpusOnce.Do(func() { corpusMsgs, corpusErr = readCorpus(path) })
	if corpusErr != nil {
		tb.Fatalf("sharedtest: %v", corpusErr)
	}
	return corpusMsgs
}

func readCorpus(path string) ([]CorpusMessage, error) {
	var out []CorpusMessage
	err := readTarGz(path, func(name string, raw []byte) {
		parts := strings.Split(strings.TrimPrefix(name, "./"), "/")
		if len(parts) != 3 || parts[0] != "spamassassin" || strings.HasSuffix(parts[2], ".tsv") {
			return
		}
		out = append(out, CorpusMessage{Name: parts[1] + "/" + parts[2], Group: parts[1], Spam: strings.HasPrefix(parts[1], "spam"), Raw: raw})
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no messages", path)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// readTarGz calls fn with the name and bytes (at most 64 MiB) of every
// regular file of the gzipped tar archive at path.
func readTarGz(path string, fn func(name string, raw []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		raw, err := io.ReadAll(io.LimitReader(tr, 64<<20))
		if err != nil {
			return fmt.Errorf("%s: %s: %w", path, h.Name, err)
		}
		fn(h.Name, raw)
	}
}
