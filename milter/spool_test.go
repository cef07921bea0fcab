package milter

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func TestSpool(t *testing.T) {
	tests := []struct {
		name      string
		mem, max  int64
		chunks    []int
		onDisk    bool
		truncated bool
	}{
		{"empty", 10, 100, nil, false, false},
		{"in memory", 10, 100, []int{5, 5}, false, false},
		{"spills", 10, 100, []int{6, 6, 30}, true, false},
		{"exact max kept", 10, 20, []int{20}, true, false},
		{"over max dropped", 10, 20, []int{15, 15}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSpool(tt.mem, tt.max, t.TempDir())
			defer s.Close()
			var want bytes.Buffer
			for i, n := range tt.chunks {
				p := bytes.Repeat([]byte{byte('a' + i)}, n)
				want.Write(p)
				if k, err := s.Write(p); err != nil || k != n {
					t.Fatalf("write: %d %v", k, err)
				}
			}
			if s.OnDisk() != tt.onDisk || s.Truncated() != tt.truncated {
				t.Fatalf("onDisk=%v truncated=%v", s.OnDisk(), s.Truncated())
			}
			if s.Size() != int64(want.Len()) {
				t.Fatalf("size %d, want %d", s.Size(), want.Len())
			}
			b := s.Body()
			if tt.truncated {
				if b != nil {
					t.Fatal("truncated spool returned a body")
				}
				return
			}
			// Two concurrent readers see the same bytes.
			r1, r2 := b.Reader(), b.Reader()
			g1, _ := io.ReadAll(r1)
			g2, _ := io.ReadAll(r2)
			if !bytes.Equal(g1, want.Bytes()) || !bytes.Equal(g2, want.Bytes()) {
				t.Fatalf("body mismatch")
			}
		})
	}
}

func TestSpoolLeavesNoFiles(t *testing.T) {
	dir := t.TempDir()
	s := NewSpool(4, 1000, dir)
	s.Write(bytes.Repeat([]byte("x"), 100))
	if !s.OnDisk() {
		t.Fatal("did not spill")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("spill file visible in %s: %v (must be unlinked)", dir, ents)
	}
	s.Reset()
	if s.Size() != 0 || s.OnDisk() {
		t.Fatal("reset kept state")
	}
}
