package feedback

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// MaxInputMessage bounds one message read from a learn input.
const MaxInputMessage = 64 << 20

// RawMessage is one message found in a learn input.
type RawMessage struct {
	// Source names it for logs: the file, "mbox#N" or the Maildir file.
	Source string
	Data   []byte
}

// ReadInput reads path, which is an .eml file (one RFC 5322 message), an
// mbox file (messages after "From " lines) or a Maildir folder (files in
// cur/ and new/), and calls fn for each message in order. It stops at the
// first error from fn.
func ReadInput(path string, fn func(RawMessage) error) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reputation: %w", err)
	}
	if st.IsDir() {
		return readMaildir(path, fn)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reputation: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64*1024)
	if startsMbox(br) {
		return ReadMbox(br, path, fn)
	}
	data, err := io.ReadAll(io.LimitReader(br, MaxInputMessage+1))
	if err != nil {
		return fmt.Errorf("reputation: %s: %w", path, err)
	}
	if len(data) > MaxInputMessage {
		return fmt.Errorf("reputation: %s: message larger than %d bytes", path, MaxInputMessage)
	}
	return fn(RawMessage{Source: path, Data: data})
}

// ReadTree is ReadInput that also takes a directory of such inputs: a
// directory that is not a Maildir is walked in name order, each file read
// as an .eml or mbox file and each subdirectory as a Maildir or another
// such directory. Dot files and dot directories are skipped.
func ReadTree(path string, fn func(RawMessage) error) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("reputation: %w", err)
	}
	if !st.IsDir() || isMaildir(path) {
		return ReadInput(path, fn)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return fmt.Errorf("reputation: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(path, e.Name())
		if e.Type().IsRegular() {
			if err := ReadInput(p, fn); err != nil {
				return err
			}
			continue
		}
		if e.IsDir() {
			if err := ReadTree(p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// startsMbox reports whether the input starts with an mbox From_ line
// ("From sender date"), not a From header field written with white space
// before its colon ("From : a@b", obsolete syntax RFC 5322 §4.5.3 that
// spam uses): such a file is one message, not an mbox.
func startsMbox(br *bufio.Reader) bool {
	if head, _ := br.Peek(5); string(head) != "From " {
		return false
	}
	line, _ := br.Peek(min(br.Buffered(), 1000))
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	return isFromLine(line)
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if st, err := os.Stat(filepath.Join(dir, sub)); err == nil && st.IsDir() {
			return true
		}
	}
	return false
}

func readMaildir(dir string, fn func(RawMessage) error) error {
	found := false
	for _, sub := range []string{"cur", "new"} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reputation: %w", err)
		}
		found = true
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
		for _, e := range entries {
			// Maildir: dot files are not messages; tmp/ holds deliveries
			// in progress and is never read.
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, sub, e.Name())
			data, err := readCapped(p)
			if err != nil {
				return err
			}
			if err := fn(RawMessage{Source: p, Data: data}); err != nil {
				return err
			}
		}
	}
	if !found {
		return fmt.Errorf("reputation: %s is a directory but not a Maildir (no cur/ or new/)", dir)
	}
	return nil
}

func readCapped(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reputation: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxInputMessage+1))
	if err != nil {
		return nil, fmt.Errorf("reputation: %s: %w", p, err)
	}
	if len(data) > MaxInputMessage {
		return nil, fmt.Errorf("reputation: %s: message larger than %d bytes", p, MaxInputMessage)
	}
	return data, nil
}

// ReadMbox splits an mbox stream into messages. A message starts at a
// From_ line ("From " sender date, RFC 4155 §2) at the start of the stream or
// after an empty line; a "From " line without a time of day is body text
// that an mboxo writer failed to quote. Lines ">From ", ">>From ", … lose one ">" (the mboxrd quoting, which
// also reads mboxo files correctly for unquoted bodies).
func ReadMbox(r io.Reader, name string, fn func(RawMessage) error) error {
	br := bufio.NewReaderSize(r, 64*1024)
	var cur bytes.Buffer
	n := 0
	in := false
	prevEmpty := true
	emit := func() error {
		if !in {
			return nil
		}
		data := cur.Bytes()
		// The empty line before the next From_ line belongs to the mbox.
		if bytes.HasSuffix(data, []byte("\r\n\r\n")) {
			data = data[:len(data)-2]
		} else if bytes.HasSuffix(data, []byte("\n\n")) {
			data = data[:len(data)-1]
		}
		n++
		msg := RawMessage{Source: fmt.Sprintf("%s#%d", name, n), Data: append([]byte(nil), data...)}
		cur.Reset()
		return fn(msg)
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A very long line: not a separator; keep it whole.
			if !in {
				return fmt.Errorf("reputation: %s: not an mbox (no From_ line before content)", name)
			}
			cur.Write(line)
			prevEmpty = false
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				cur.Write(line)
			}
			line = nil
		}
		if len(line) > 0 {
			switch {
			case prevEmpty && isFromLine(line):
				if err := emit(); err != nil {
					return err
				}
				in = true
			default:
				if !in {
					return fmt.Errorf("reputation: %s: not an mbox (no From_ line before content)", name)
				}
				if q := bytes.TrimLeft(line, ">"); len(q) < len(line) && bytes.HasPrefix(q, []byte("From ")) {
					line = line[1:]
				}
				cur.Write(line)
			}
			prevEmpty = len(bytes.TrimRight(line, "\r\n")) == 0
		}
		if cur.Len() > MaxInputMessage {
			return fmt.Errorf("reputation: %s#%d: message larger than %d bytes", name, n+1, MaxInputMessage)
		}
		if err == io.EOF {
			return emit()
		}
		if err != nil {
			return fmt.Errorf("reputation: %s: %w", name, err)
		}
	}
}

// Feedback is an RFC 5965 Abuse Reporting Format report.
type Feedback struct {
	// Type is the Feedback-Type field (RFC 5965 §3.1): abuse, fraud,
	// virus, other, not-spam (RFC 6430), … lower-cased.
	Type string
	// Original is the reported message (the third MIME part), parsed.
	Original *filters.Message
	// HeadersOnly is set when the report enclosed only the header of the
	// original (text/rfc822-headers, RFC 5965 §2 (f)).
	HeadersOnly bool
}

// Class is what the report means for learning: not-spam is ham, every other
// feedback type is spam.
func (f *Feedback) Class() store.Class {
	if f.Type == "not-spam" {
		return store.Ham
	}
	return store.Spam
}

// maxReportParts bounds the MIME parts of a report read; maxReportFields
// bounds its machine-readable part (RFC 5965 §3: a few short fields).
const (
	maxReportParts  = 32
	maxReportFields = 64 << 10
)

// FeedbackReport recognises an ARF report (RFC 5965 §2: a
// multipart/report with report-type=feedback-report) and parses the
// enclosed original within lim, streaming it from m's body: the report is
// never copied whole. It returns nil, nil for a message that is not an ARF
// report, and an error for a report that is malformed.
func FeedbackReport(m *filters.Message, lim filters.Limits) (*Feedback, error) {
	// Unfold (RFC 5322 §2.2.3) before parsing the media type.
	ct := strings.ReplaceAll(m.Header("Content-Type"), "\r\n", "")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/report" || !strings.EqualFold(params["report-type"], "feedback-report") {
		return nil, nil
	}
	if params["boundary"] == "" {
		return nil, errors.New("reputation: feedback report without MIME boundary")
	}
	if m.Body == nil {
		return nil, errors.New("reputation: feedback report without a body")
	}
	fb := &Feedback{}
	mr := multipart.NewReader(m.Body.Reader(), params["boundary"])
	for i := 0; i < maxReportParts; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reputation: feedback report: %w", err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch pt {
		case "message/feedback-report":
			data, err := io.ReadAll(io.LimitReader(decodePart(p), maxReportFields))
			if err != nil {
				return nil, fmt.Errorf("reputation: feedback report part: %w", err)
			}
			if fields, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(data, '\n', '\n')))).ReadMIMEHeader(); err == nil || len(fields) > 0 {
				fb.Type = strings.ToLower(strings.TrimSpace(fields.Get("Feedback-Type")))
			}
		case "message/rfc822", "text/rfc822-headers":
			if fb.Original != nil {
				continue
			}
			orig, err := filters.ParseMessageWith(decodePart(p), lim)
			if errors.Is(err, filters.ErrEmptyMessage) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("reputation: feedback report part: %w", err)
			}
			fb.Original = orig
			fb.HeadersOnly = pt == "text/rfc822-headers"
		}
	}
	if fb.Original == nil {
		return nil, errors.New("reputation: feedback report without the original message")
	}
	return fb, nil
}

// ParseFeedbackReport is FeedbackReport on a raw message.
func ParseFeedbackReport(raw []byte) (*Feedback, error) {
	m, err := filters.ParseMessageWith(bytes.NewReader(raw), filters.Limits{MaxBody: MaxInputMessage})
	if err != nil {
		return nil, nil
	}
	return FeedbackReport(m, filters.Limits{MaxBody: MaxInputMessage})
}

// decodePart undoes a transfer encoding, streaming. RFC 2046 §5.2.1
// forbids encoding message/rfc822, but reports in the wild do it.
func decodePart(p *multipart.Part) io.Reader {
	var r io.Reader = p
	switch strings.ToLower(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = Base64Reader(r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	}
	return r
}

// isFromLine: "From " followed by at least a sender and a date that has a
// time of day (hh:mm), as every mbox writer produces.
func isFromLine(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("From ")) {
		return false
	}
	f := bytes.Fields(line)
	if len(f) < 3 {
		return false
	}
	for _, w := range f[2:] {
		if i := bytes.IndexByte(w, ':'); i >= 1 && i <= 2 && len(w) >= i+3 &&
			isDigits(w[:i]) && isDigits(w[i+1:i+3]) {
			return true
		}
	}
	return false
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// Base64Reader decodes a base64 body (RFC 2045 §6.8) leniently: white
// space anywhere in it is skipped, as mail software breaks lines where it
// likes.
func Base64Reader(r io.Reader) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, newlineStripper{r})
}

type newlineStripper struct{ r io.Reader }

func (n newlineStripper) Read(p []byte) (int, error) {
	for {
		c, err := n.r.Read(p)
		out := p[:0]
		for _, b := range p[:c] {
			if b != '\r' && b != '\n' && b != ' ' && b != '\t' {
				out = append(out, b)
			}
		}
		if len(out) > 0 || err != nil {
			return len(out), err
		}
	}
}
