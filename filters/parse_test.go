package filters

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters/lineartest"
)

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		max         int64
		wantHeaders []Header
		wantBody    string
		truncated   bool
		wantErr     bool
	}{
		{
			name:        "LF endings become CRLF",
			in:          "From: a@b.example\nSubject: hi\n\nline1\nline2\n",
			max:         1 << 20,
			wantHeaders: []Header{{"From", " a@b.example"}, {"Subject", " hi"}},
			wantBody:    "line1\r\nline2\r\n",
		},
		{
			name:        "folded header keeps its lines",
			in:          "Subject: a\r\n  b\r\n\tc\r\nX-Y:z\r\n\r\nbody",
			max:         1 << 20,
			wantHeaders: []Header{{"Subject", " a\r\n  b\r\n\tc"}, {"X-Y", "z"}},
			wantBody:    "body",
		},
		{
			name:        "mbox From line skipped",
			in:          "From someone Sat Jan  3 01:05:34 1996\nSubject: x\n\nb\n",
			max:         1 << 20,
			wantHeaders: []Header{{"Subject", " x"}},
			wantBody:    "b\r\n",
		},
		{
			name:        "header block without blank line",
			in:          "Subject: x\nthis is not a header\nmore\n",
			max:         1 << 20,
			wantHeaders: []Header{{"Subject", " x"}},
			wantBody:    "this is not a header\r\nmore\r\n",
		},
		{
			name:        "headers only",
			in:          "Subject: x\n",
			max:         1 << 20,
			wantHeaders: []Header{{"Subject", " x"}},
			wantBody:    "",
		},
		{
			name:        "8-bit header bytes kept",
			in:          "Subject: caf\xe9\n\nx",
			max:         1 << 20,
			wantHeaders: []Header{{"Subject", " caf\xe9"}},
			wantBody:    "x",
		},
		{
			name:        "oversized body truncated",
			in:          "Subject: x\n\n" + strings.Repeat("a", 100) + "\n",
			max:         50,
			wantHeaders: []Header{{"Subject", " x"}},
			truncated:   true,
		},
		{name: "empty", in: "", max: 10, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessage(strings.NewReader(tt.in), tt.max)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Headers) != len(tt.wantHeaders) {
				t.Fatalf("headers %q, want %q", m.Headers, tt.wantHeaders)
			}
			for i := range m.Headers {
				if m.Headers[i] != tt.wantHeaders[i] {
					t.Fatalf("header %d = %q, want %q", i, m.Headers[i], tt.wantHeaders[i])
				}
			}
			if m.BodyTruncated != tt.truncated {
				t.Fatalf("truncated = %v", m.BodyTruncated)
			}
			if tt.truncated {
				if m.Body != nil {
					t.Fatal("truncated message kept a body")
				}
				if len(m.takeNotes()) != 1 {
					t.Fatal("no MESSAGE_TOO_BIG note")
				}
				return
			}
			b, _ := io.ReadAll(m.Body.Reader())
			if string(b) != tt.wantBody {
				t.Fatalf("body %q, want %q", b, tt.wantBody)
			}
		})
	}
}

func TestRawRoundTrip(t *testing.T) {
	in := "From: a@b.example\r\nSubject: a\r\n b\r\n\r\nbody\r\n"
	m, err := ParseMessage(strings.NewReader(in), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(m.Raw())
	if string(b) != in {
		t.Fatalf("Raw() = %q, want %q", b, in)
	}
}

func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("From: a@b\nSubject: x\n\nbody\n"))
	f.Add([]byte("From x\n \n\t\n:\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMessage(strings.NewReader(string(data)), 1<<16)
		if err != nil {
			return
		}
		if m.Body != nil {
			io.Copy(io.Discard, m.Raw())
		}
	})
}

func TestParseMessageHeaderLimits(t *testing.T) {
	filler := strings.Repeat("X-Filler: x\n", 20)
	tests := []struct {
		name     string
		in       string
		lim      Limits
		overflow bool
		kept     int
	}{
		{"within both limits", filler + "From: a@b\n\nbody\n", Limits{MaxHeaders: 21, MaxHeaderBytes: 1 << 10, MaxBody: 1 << 10}, false, 21},
		{"one field too many", filler + "From: a@b\n\nbody\n", Limits{MaxHeaders: 20, MaxHeaderBytes: 1 << 10, MaxBody: 1 << 10}, true, 20},
		{"too many bytes in one folded field", "Subject: a\n" + strings.Repeat(" folded line\n", 100) + "From: a@b\n\nbody\n", Limits{MaxHeaders: 10, MaxHeaderBytes: 1 << 10, MaxBody: 1 << 10}, true, 0},
		{"one line longer than the byte limit", "To: " + strings.Repeat("a", 5000) + "\nFrom: a@b\n\nbody\n", Limits{MaxHeaders: 10, MaxHeaderBytes: 1 << 10, MaxBody: 1 << 10}, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMessageWith(strings.NewReader(tt.in), tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.HeadersOverflow != ""; got != tt.overflow {
				t.Fatalf("HeadersOverflow = %q, want overflow %v", m.HeadersOverflow, tt.overflow)
			}
			if len(m.Headers) != tt.kept {
				t.Fatalf("kept %d fields, want %d", len(m.Headers), tt.kept)
			}
			if tt.overflow && m.Body.Size() != 0 {
				t.Fatalf("an overflowing message kept a body of %d bytes", m.Body.Size())
			}
		})
	}
}

// TestParseMessageLongBody: a body of many chunks and long lines reads back
// byte for byte (with CRLF line endings).
func TestParseMessageLongBody(t *testing.T) {
	var want strings.Builder
	var in strings.Builder
	in.WriteString("Subject: big\n\n")
	for i := 0; i < 3000; i++ {
		line := strings.Repeat(string(rune('a'+i%26)), i%700) + strings.Repeat("z", 100_000*(i%1000/999))
		in.WriteString(line + "\n")
		want.WriteString(line + "\r\n")
	}
	m, err := ParseMessage(strings.NewReader(in.String()), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(m.Body.Reader())
	if string(b) != want.String() || m.Body.Size() != int64(want.Len()) {
		t.Fatalf("body of %d bytes (Size %d) differs from the %d bytes sent", len(b), m.Body.Size(), want.Len())
	}
}

// messageShapes are inputs that grow with reps in the ways a header or
// message parser can go quadratic: one field folded over many lines, one
// very long line, many fields, many body lines. unit is what is repeated.
func messageShapes(unit string) map[string]lineartest.Input {
	unit = strings.NewReplacer("\r", "", "\n", "").Replace(unit)
	return map[string]lineartest.Input{
		"folded field": func(n int) []byte {
			return []byte("From: a@b.example\r\nTo: x\r\n" + strings.Repeat(" "+unit+",\r\n", n) + "\r\nbody\r\n")
		},
		"long line": func(n int) []byte {
			return []byte("From: a@b.example\r\nTo: " + strings.Repeat(unit, n) + "\r\n\r\nbody\r\n")
		},
		"many fields": func(n int) []byte {
			return []byte(strings.Repeat("X-F: "+unit+"\r\n", n) + "\r\nbody\r\n")
		},
		"body lines": func(n int) []byte {
			return []byte("From: a@b.example\r\n\r\n" + strings.Repeat(unit+"\n", n))
		},
	}
}

// repsFor picks repetitions so that the smaller input is about 32 KiB.
func repsFor(unit string) int { return 32<<10/(len(unit)+4) + 1 }

// TestParseMessageLinear: the 3.2 MB folded To: that took a minute to parse
// (one string concatenation per continuation line) now costs a few bytes of
// allocation per input byte, whatever the size.
func TestParseMessageLinear(t *testing.T) {
	for name, build := range messageShapes("user@example.test") {
		lineartest.Check(t, name, build, repsFor("user@example.test"), 64, func(b []byte) {
			_, _ = ParseMessageWith(bytes.NewReader(b), Limits{MaxHeaders: 1 << 20, MaxHeaderBytes: 1 << 30, MaxBody: 1 << 30})
		})
	}
}

// FuzzParseMessageLinear asserts work per byte on every shape built from
// the fuzzer's unit: the bytes allocated per extra input byte stay bounded.
func FuzzParseMessageLinear(f *testing.F) {
	f.Add("user@example.test")
	f.Add(" ")
	f.Add("=?utf-8?q?a?=")
	f.Fuzz(func(t *testing.T, unit string) {
		if len(unit) == 0 || len(unit) > 64 {
			return
		}
		for name, build := range messageShapes(unit) {
			lineartest.Check(t, name, build, repsFor(unit), 64, func(b []byte) {
				_, _ = ParseMessageWith(bytes.NewReader(b), Limits{MaxHeaders: 1 << 20, MaxHeaderBytes: 1 << 30, MaxBody: 1 << 30})
			})
		}
	})
}
