package filters

import (
	"io"
	"strings"
	"testing"
)

func TestDecodeCharset(t *testing.T) {
	tests := []struct {
		label string
		in    string
		want  string // "" with wantErr
		err   bool
	}{
		// The WHATWG table: ISO-8859-1 and US-ASCII are windows-1252.
		{"iso-8859-1", "caf\xe9 \x96 menu", "café – menu", false},
		{"ISO-8859-1", "\x80", "€", false},
		{"latin1", "\x93quoted\x94", "\u201cquoted\u201d", false},
		{"us-ascii", "\x85", "…", false},
		{`"windows-1252"`, "\x9c", "œ", false},
		{"iso-8859-15", "\xa4", "€", false},
		{"koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет", false},
		{"gb2312", "\xc4\xe3\xba\xc3", "你好", false},
		{"shift_jis", "\x82\xa0", "あ", false},
		{"utf-8", "ok \xff", "ok \uFFFD", false},
		{"x-unknown-charset", "x", "", true},
		{"", "x", "", true},
	}
	for _, tt := range tests {
		got, err := DecodeCharset(tt.label, []byte(tt.in))
		if tt.err {
			if err == nil {
				t.Errorf("DecodeCharset(%q) = %q, want an error", tt.label, got)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("DecodeCharset(%q, %q) = %q, %v; want %q", tt.label, tt.in, got, err, tt.want)
		}
	}
}

// RFC 2047 words labelled ISO-8859-1 or US-ASCII decode as windows-1252 too.
func TestCharsetReaderWords(t *testing.T) {
	for in, want := range map[string]string{
		"=?ISO-8859-1?Q?Angebot_=96_50=80?=":         "Angebot – 50€",
		"=?us-ascii*en?Q?=85?= and =?utf-8?B?w6k=?=": "… and é",
		"=?koi8-r?B?8NLJ18XU?=":                      "Привет",
		"plain":                                      "plain",
	} {
		got, err := DecodeHeader(in)
		if err != nil || got != want {
			t.Errorf("DecodeHeader(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	r, err := CharsetReader("latin1", strings.NewReader("\x96"))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(r); string(b) != "–" {
		t.Fatalf("CharsetReader(latin1) read %q", b)
	}
}
