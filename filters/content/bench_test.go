package content

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkExtract measures extraction of each golden message.
func BenchmarkExtract(b *testing.B) {
	files, _ := filepath.Glob("testdata/*.eml")
	cfg := DefaultConfig()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		hs, body := splitMessage(raw)
		b.Run(strings.TrimSuffix(filepath.Base(f), ".eml"), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Extract(context.Background(), cfg, hs, bytes.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBigMessage measures the 30 MB message of TestBigMessageBoundedMemory.
func BenchmarkBigMessage(b *testing.B) {
	body := bigMessage(30 << 20)
	cfg := DefaultConfig()
	hs := bigHeaders()
	b.ReportAllocs()
	b.SetBytes(body.Size())
	for b.Loop() {
		if _, err := Extract(context.Background(), cfg, hs, body.Reader()); err != nil {
			b.Fatal(err)
		}
	}
}
