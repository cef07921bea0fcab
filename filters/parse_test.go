package filters

import (
	"io"
	"strings"
	"testing"
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
