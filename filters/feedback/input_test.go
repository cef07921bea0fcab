package feedback

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters/store"
)

func collect(t *testing.T, path string) ([]RawMessage, error) {
	t.Helper()
	var out []RawMessage
	err := ReadInput(path, func(r RawMessage) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadInput(t *testing.T) {
	dir := t.TempDir()
	mbox := "From a@example.com Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody one\n>From the start\n\n" +
		"From b@example.com Mon Jan  1 00:00:01 2024\r\nSubject: two\r\n\r\nFrom inside a paragraph stays\r\n\r\n" +
		"From c@example.com Mon Jan  1 00:00:02 2024\nSubject: three\n\n>>From quoted twice\n"
	write(t, filepath.Join(dir, "box.mbox"), mbox)
	write(t, filepath.Join(dir, "one.eml"), "Subject: eml\n\nFrom here on it is body\n")
	write(t, filepath.Join(dir, "obs.eml"), "From : spammer@example.com\r\nSubject: obs\r\n\r\nbody\r\n")
	md := filepath.Join(dir, "Maildir")
	write(t, filepath.Join(md, "cur", "2.host:2,S"), "Subject: cur2\n\nx\n")
	write(t, filepath.Join(md, "cur", "1.host:2,S"), "Subject: cur1\n\nx\n")
	write(t, filepath.Join(md, "new", "3.host"), "Subject: new3\n\nx\n")
	write(t, filepath.Join(md, "new", ".hidden"), "Subject: hidden\n\nx\n")
	write(t, filepath.Join(md, "tmp", "4.host"), "Subject: in delivery\n\nx\n")
	if err := os.MkdirAll(filepath.Join(dir, "plain"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "garbage.mbox"), "From x Mon Jan  1 00:00:00 2024\nSubject: a\n\n"+strings.Repeat("y", 200000)+"\n")

	tests := []struct {
		name     string
		path     string
		subjects []string
		bodies   []string
		wantErr  bool
	}{
		{name: "mbox", path: "box.mbox", subjects: []string{"one", "two", "three"},
			bodies: []string{"body one\nFrom the start\n", "From inside a paragraph stays\r\n", ">From quoted twice\n"}},
		{name: "eml", path: "one.eml", subjects: []string{"eml"}, bodies: []string{"From here on it is body\n"}},
		{name: "From header with space before colon", path: "obs.eml", subjects: []string{"obs"}},
		{name: "maildir", path: "Maildir", subjects: []string{"cur1", "cur2", "new3"}},
		{name: "long line mbox", path: "garbage.mbox", subjects: []string{"a"}},
		{name: "plain directory", path: "plain", wantErr: true},
		{name: "missing", path: "nope", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := collect(t, filepath.Join(dir, tc.path))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if len(msgs) != len(tc.subjects) {
				t.Fatalf("%d messages, want %d", len(msgs), len(tc.subjects))
			}
			for i, r := range msgs {
				m := parseRaw(r.Data)
				if got := m.Header("Subject"); got != tc.subjects[i] {
					t.Errorf("message %d (%s): subject %q, want %q", i, r.Source, got, tc.subjects[i])
				}
				if tc.bodies != nil {
					_, body, _ := bytes.Cut(r.Data, []byte("\n\n"))
					if !bytes.Contains(r.Data, []byte("\n\n")) {
						_, body, _ = bytes.Cut(r.Data, []byte("\r\n\r\n"))
					}
					if string(body) != tc.bodies[i] {
						t.Errorf("message %d body %q, want %q", i, body, tc.bodies[i])
					}
				}
			}
		})
	}
}

const arfOriginal = "From: spammer@bad.example\r\nTo: user@example.org\r\nSubject: cheap pills\r\nMessage-ID: <spam1@bad.example>\r\n\r\nBuy cheap pills at http://pills.bad.example/\r\n"

func arfReport(feedbackType, origCT, origCTE, orig string) string {
	return "From: abuse@isp.example\r\nTo: fbl@example.org\r\nSubject: FW: cheap pills\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=feedback-report;\r\n boundary=\"part1_13d.2e68ed54_boundary\"\r\n\r\n" +
		"--part1_13d.2e68ed54_boundary\r\nContent-Type: text/plain; charset=\"US-ASCII\"\r\n\r\n" +
		"This is an email abuse report for an email message received from IP 192.0.2.1.\r\n\r\n" +
		"--part1_13d.2e68ed54_boundary\r\nContent-Type: message/feedback-report\r\n\r\n" +
		"Feedback-Type: " + feedbackType + "\r\nUser-Agent: SomeGenerator/1.0\r\nVersion: 1\r\nSource-IP: 192.0.2.1\r\n\r\n" +
		"--part1_13d.2e68ed54_boundary\r\nContent-Type: " + origCT + "\r\n" + origCTE + "\r\n" +
		orig + "\r\n--part1_13d.2e68ed54_boundary--\r\n"
}

func TestParseFeedbackReport(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(arfOriginal))
	b64 = b64[:40] + "\r\n" + b64[40:]
	tests := []struct {
		name        string
		raw         string
		arf         bool
		wantErr     bool
		class       store.Class
		headersOnly bool
	}{
		// RFC 5965 Appendix B.2 shape.
		{name: "abuse report", raw: arfReport("abuse", "message/rfc822", "Content-Disposition: inline\r\n", arfOriginal), arf: true, class: store.Spam},
		{name: "base64 original", raw: arfReport("fraud", "message/rfc822", "Content-Transfer-Encoding: base64\r\n", b64), arf: true, class: store.Spam},
		{name: "not-spam (RFC 6430)", raw: arfReport("not-spam", "message/rfc822", "", arfOriginal), arf: true, class: store.Ham},
		{name: "headers only", raw: arfReport("abuse", "text/rfc822-headers", "", strings.SplitN(arfOriginal, "\r\n\r\n", 2)[0]+"\r\n"), arf: true, class: store.Spam, headersOnly: true},
		{name: "plain message", raw: arfOriginal},
		{name: "other report type", raw: strings.Replace(arfReport("abuse", "message/rfc822", "", arfOriginal), "feedback-report;", "delivery-status;", 1)},
		{name: "report without original", raw: arfReport("abuse", "text/plain", "", "nothing"), arf: true, wantErr: true},
		{name: "garbage", raw: "\x00\x01not a message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fb, err := ParseFeedbackReport([]byte(tc.raw))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if (fb != nil) != tc.arf {
				t.Fatalf("recognised = %v, want %v", fb != nil, tc.arf)
			}
			if fb == nil {
				return
			}
			if fb.Class() != tc.class || fb.HeadersOnly != tc.headersOnly {
				t.Fatalf("class %s headersOnly %v, want %s %v", fb.Class(), fb.HeadersOnly, tc.class, tc.headersOnly)
			}
			orig := fb.Original
			if orig.Header("Message-ID") != "<spam1@bad.example>" {
				t.Fatalf("original not extracted: %q", orig.Headers)
			}
			if !tc.headersOnly {
				d1, _ := Digest(orig)
				d2, _ := Digest(parseRaw([]byte(arfOriginal)))
				if d1 != d2 {
					t.Fatal("the enclosed original does not have the digest of the message itself")
				}
			}
		})
	}
}

func FuzzReadMbox(f *testing.F) {
	f.Add([]byte("From a\nSubject: x\n\n>From y\n\nFrom b\n\nz"))
	f.Add([]byte("not mbox"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		ReadMbox(bytes.NewReader(data), "fuzz", func(r RawMessage) error {
			n++
			if len(r.Data) > len(data) {
				t.Fatalf("message longer than the input")
			}
			return nil
		})
	})
}

func FuzzParseFeedbackReport(f *testing.F) {
	f.Add([]byte(arfReport("abuse", "message/rfc822", "", arfOriginal)))
	f.Add([]byte(arfReport("abuse", "message/rfc822", "Content-Transfer-Encoding: base64\r\n", "!!!")))
	f.Fuzz(func(t *testing.T, data []byte) {
		fb, err := ParseFeedbackReport(data)
		if err == nil && fb != nil && fb.Original == nil {
			t.Fatal("report accepted without an original")
		}
	})
}
