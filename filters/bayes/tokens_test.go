package bayes

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"hash/fnv"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/content"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"case folded", "Hello WORLD", []string{"hello", "world"}},
		{"NFKC full-width", "ＦＲＥＥ money", []string{"free", "money"}},
		{"inner punctuation kept, outer trimmed", "don't e-mail us.", []string{"don't", "e-mail", "us"}},
		{"amount bucketed", "win $1,000,000 now", []string{"win", "$#7", "now"}},
		{"year bucketed", "in 2002", []string{"in", "#4"}},
		{"short words dropped", "a b cd", []string{"cd"}},
		{"id with many digits", "ref ab12345x", []string{"ref", "id#5"}},
		{"long word becomes skip token", "x " + strings.Repeat("abc", 10), []string{"skip:a30"}},
		{"ideographs one per character", "免费赠送", []string{"免", "费", "赠", "送"}},
		{"empty", "", nil},
		{"punctuation only", "!!! ??? ...", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitWords(tt.in, 100)
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitWords(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := splitWords("one two three four", 2); len(got) != 2 {
		t.Errorf("max 2 words: got %q", got)
	}
}

func TestHeaderHelpers(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"mailer family", mailerFamily("Microsoft Outlook Express 6.00.2600.0000"), "microsoft outlook express"},
		{"mailer with slash", mailerFamily("Mutt/1.4i"), "mutt"},
		{"mailer missing", mailerFamily(""), "none"},
		{"mailer only version", mailerFamily("1.0"), "other"},
		{"last labels", lastLabels("a.b.example.com", 2), "example.com"},
		{"last labels short", lastLabels("localhost", 2), "localhost"},
		{"last labels dots only", lastLabels(".", 2), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func testMessage(t *testing.T, raw string) *filters.Message {
	t.Helper()
	m, err := filters.ParseMessage(strings.NewReader(raw), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const multipartMessage = "From: \"Shop\" <deals@shop.example.com>\r\n" +
	"Reply-To: claims@other.example.net\r\n" +
	"To: a@example.org, b@example.org\r\n" +
	"Subject: =?utf-8?q?Fr=C3=A9e_MONEY_now?=\r\n" +
	"Message-ID: <123@mx.shop.example.com>\r\n" +
	"X-Mailer: Microsoft Outlook Express 6.00\r\n" +
	"Received: from relay.ours.example (relay.ours.example [192.0.2.1])\r\n" +
	"X-Spam-Status: No\r\n" +
	"Precedence: bulk\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
	"--b1\r\nContent-Type: text/html\r\n\r\n<p>hello</p>\r\n" +
	"--b1--\r\n"

func TestTokenize(t *testing.T) {
	m := testMessage(t, multipartMessage)
	m.Facts.Content = filters.Content{
		Text: "Click here to claim your prize",
		URLs: []filters.URL{
			{URL: "http://www.shop.example.com/x", Host: "www.shop.example.com", Domain: "example.com"},
			{URL: "http://WIN.test./", Host: "WIN.test.", Domain: "win.test"},
		},
		Domains:    []string{"example.com", "win.test"},
		Images:     []filters.Image{{Kind: "remote"}, {Kind: "remote"}, {Kind: "inline"}},
		HiddenText: "casino casino jackpot",
	}
	toks := Tokenize(m, 0)
	want := []string{
		"h:from:shop.example.com", "h:replyto:other.example.net", "h:replyto_differs",
		"h:msgid:example.com", "h:msgid_from_match", "h:mailer:microsoft outlook express",
		"h:to:many", "hn:x-mailer", "hn:message-id",
		"h:ct:multipart/alternative", "h:mime:multipart/alternative(text/plain,text/html)",
		"h:part:text/plain", "h:part:text/html",
		"s:frée", "s:money", "s:now", "sb:frée money", "sb:money now",
		"u:www.shop.example.com", "d:example.com", "u:win.test", "d:win.test", "x:urls:2",
		"i:count:2", "i:remote:2", "i:inline:1",
		"click", "here", "prize", "b:click here", "b:your prize",
		"hid:casino", "hid:jackpot", "x:hidden_len:16",
	}
	for _, w := range want {
		if !slices.Contains(toks, w) {
			t.Errorf("token %q missing from %q", w, toks)
		}
	}
	// Precedence is what list managers write: neither its name nor its
	// value is a token (listFields); hidden words are not visible words.
	for _, bad := range []string{"hn:received", "hn:x-spam-status", "k:click to", "h:precedence:bulk", "hn:precedence", "casino"} {
		if slices.Contains(toks, bad) {
			t.Errorf("token %q should not be there", bad)
		}
	}
	seen := map[string]bool{}
	for _, tok := range toks {
		if seen[tok] {
			t.Errorf("token %q twice", tok)
		}
		seen[tok] = true
	}
	t.Run("cap", func(t *testing.T) {
		capped := Tokenize(m, 10)
		if len(capped) != 10 || !slices.Equal(capped, toks[:10]) {
			t.Errorf("capped tokens %q, want the first 10 of %q", capped, toks)
		}
	})
	t.Run("stable", func(t *testing.T) {
		if again := Tokenize(m, 0); !slices.Equal(again, toks) {
			t.Errorf("tokens differ between runs")
		}
	})
}

func TestTokenizeBareMessage(t *testing.T) {
	m := &filters.Message{}
	toks := Tokenize(m, 0)
	for _, w := range []string{"h:from:none", "h:msgid:missing", "h:mailer:none", "h:ct:none", "x:subj_empty", "h:date:missing"} {
		if !slices.Contains(toks, w) {
			t.Errorf("token %q missing from %q", w, toks)
		}
	}
}

// TestTokenIDIsFNV1a keeps the store keys of learned tokens: the id is
// FNV-1a (hash/fnv) of the token, big-endian, base64url.
func TestTokenIDIsFNV1a(t *testing.T) {
	for _, tok := range []string{"", "free", "t:viagra", "b:click here", "h:x-mailer:outlook", "\xff\x00é漢", strings.Repeat("long", 100)} {
		h := fnv.New64a()
		h.Write([]byte(tok))
		var sum [8]byte
		binary.BigEndian.PutUint64(sum[:], h.Sum64())
		want := "bayes:" + base64.RawURLEncoding.EncodeToString(sum[:])
		if got := TokenID(tok); got != want {
			t.Errorf("TokenID(%q) = %q, want %q", tok, got, want)
		}
		if got := string(KindToken) + ":" + tokenValue(tok); got != want {
			t.Errorf("tokenValue(%q) = %q, want %q", tok, got, want)
		}
	}
}

func TestTokenIDStable(t *testing.T) {
	id := TokenID("free")
	if !strings.HasPrefix(id, "bayes:") || len(id) != len("bayes:")+11 {
		t.Fatalf("TokenID = %q", id)
	}
	if id != TokenID("free") || id == TokenID("Free") {
		t.Errorf("TokenID not a function of the token")
	}
	if strings.Contains(id[len("bayes:"):], "#") || id == messagesID {
		t.Errorf("token id %q may collide with %q", id, messagesID)
	}
}

// FuzzTokenize: whatever the message, tokenizing neither panics nor
// returns duplicates or more than the cap.
func FuzzTokenize(f *testing.F) {
	f.Add([]byte(multipartMessage))
	f.Add([]byte("Subject: =?x-unknown?b?////?=\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"))
	f.Add([]byte("From: <@>\r\nMessage-ID: <@.>\r\nReply-To: \xff\xfe\r\n\r\n\xff\xfe $$$ 1,2,3,4 ''''"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, ok := fuzzMessage(raw)
		if !ok {
			return
		}
		checkTokenList(t, Tokenize(m, 300), 300)
	})
}

// fuzzMessage parses raw and puts its body bytes in the facts as if they
// were the visible text, and a third of them as the hidden text.
func fuzzMessage(raw []byte) (*filters.Message, bool) {
	m, err := filters.ParseMessage(bytes.NewReader(raw), 1<<20)
	if err != nil {
		return nil, false
	}
	if m.Body != nil {
		var b bytes.Buffer
		b.ReadFrom(m.Body.Reader())
		m.Facts.Content.Text = b.String()
		m.Facts.Content.HiddenText = m.Facts.Content.Text[:len(m.Facts.Content.Text)/3]
	}
	return m, true
}

// checkTokenList fails on more than max tokens or on a token twice.
func checkTokenList(t *testing.T, toks []string, max int) {
	t.Helper()
	if len(toks) > max {
		t.Fatalf("%d tokens over the cap", len(toks))
	}
	seen := map[string]bool{}
	for _, tok := range toks {
		if seen[tok] {
			t.Fatalf("token %q twice", tok)
		}
		seen[tok] = true
	}
}

// TestStructureFromContentFacts: with the content check's MIME tree in the
// facts, the structure tokens are the same as from parsing the body.
func TestStructureFromContentFacts(t *testing.T) {
	raw := "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n" +
		"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n" +
		"--inner\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nhello\r\n" +
		"--inner\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<p>hello</p>\r\n--inner--\r\n" +
		"--outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--outer--\r\n"
	parsed, err := filters.ParseMessage(strings.NewReader(raw), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	walked, _ := filters.ParseMessage(strings.NewReader(raw), 1<<20)
	c, err := content.New(content.DefaultConfig(), content.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), walked); err != nil {
		t.Fatal(err)
	}
	if walked.Facts.Content.MIME == nil {
		t.Fatal("content check left no MIME tree")
	}
	pick := func(toks []string) []string {
		var out []string
		for _, tok := range toks {
			if strings.Contains(tok, "mime:") || strings.Contains(tok, "part") {
				out = append(out, tok)
			}
		}
		sort.Strings(out)
		return out
	}
	// mime/multipart decodes quoted-printable parts itself and drops their
	// Content-Transfer-Encoding header, so parsing the body never saw
	// part_cte:quoted-printable; the content check's tree keeps it.
	fromBody := pick(append(Tokenize(parsed, 2000), "h:part_cte:quoted-printable"))
	fromFacts := pick(Tokenize(walked, 2000))
	if len(fromBody) == 0 || strings.Join(fromBody, " ") != strings.Join(fromFacts, " ") {
		t.Fatalf("structure tokens differ:\nbody:  %v\nfacts: %v", fromBody, fromFacts)
	}
}

// splitWords skips the script lookup below U+2E80: no rune there is Han,
// Hiragana or Katakana.
func TestIdeographicScriptsStartAt2E80(t *testing.T) {
	for r := rune(0); r < 0x2e80; r++ {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) {
			t.Fatalf("U+%04X is ideographic or kana", r)
		}
	}
	if !unicode.In(0x2e80, unicode.Han) {
		t.Errorf("U+2E80 is not Han: the bound is loose")
	}
}
