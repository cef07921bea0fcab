package filters

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"regexp"
	"strings"

	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/transform"
)

// CharsetReader decodes r from the charset a MIME part (RFC 2045 §5.1)
// or an RFC 2047 encoded word names, into UTF-8. The label is looked up
// in the WHATWG Encoding Standard's table, as browsers and mail clients
// do, not in the IANA registry: "iso-8859-1", "latin1" and "us-ascii"
// name windows-1252 there, so =96 in a part labelled ISO-8859-1 is the
// en dash every reader sees, not the C1 control U+0096; "gb2312" is GBK,
// "ks_c_5601-1987" is EUC-KR. Bytes that are invalid in the encoding
// become U+FFFD. An unknown label is an error (the caller picks a
// fallback). It fits mime.WordDecoder.CharsetReader.
func CharsetReader(label string, r io.Reader) (io.Reader, error) {
	// RFC 2231 §5: an encoded word's charset may carry "*language".
	name, _, _ := strings.Cut(strings.Trim(strings.TrimSpace(label), `"'`), "*")
	enc, err := htmlindex.Get(name)
	if err != nil {
		return nil, fmt.Errorf("filters: charset %q: %w", label, err)
	}
	return transform.NewReader(r, enc.NewDecoder()), nil
}

// DecodeCharset converts b from the charset label names to UTF-8 (see
// CharsetReader). The output is capped at four times the input plus a
// little, more than any encoding needs, so a hostile part cannot make it
// grow without bound.
func DecodeCharset(label string, b []byte) ([]byte, error) {
	r, err := CharsetReader(label, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, int64(len(b))*4+16))
	if err != nil {
		return nil, fmt.Errorf("filters: charset %q: %w", label, err)
	}
	return bytes.ToValidUTF8(out, []byte("\uFFFD")), nil
}

// wordDecoder decodes RFC 2047 encoded words through CharsetReader.
var wordDecoder = mime.WordDecoder{CharsetReader: CharsetReader}

// nativeWordCharset finds the encoded words whose charset Go's
// mime.WordDecoder decodes itself, without CharsetReader: ISO-8859-1 by
// the IANA table, and US-ASCII; with or without an RFC 2231 §5
// "*language" suffix.
var nativeWordCharset = regexp.MustCompile(`(?i)=\?(?:iso-8859-1|us-ascii)(\*[^?]*)?\?`)

// DecodeHeader decodes the RFC 2047 encoded words of a header field value
// with the WHATWG label table (see CharsetReader): words labelled
// ISO-8859-1 or US-ASCII are read as windows-1252, as mail clients show
// them. The error is mime.WordDecoder's.
func DecodeHeader(s string) (string, error) {
	if !strings.Contains(s, "=?") {
		return s, nil
	}
	return wordDecoder.DecodeHeader(nativeWordCharset.ReplaceAllString(s, "=?windows-1252$1?"))
}
