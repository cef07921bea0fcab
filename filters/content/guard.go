package content

import (
	"bytes"
	"io"
)

// maxHeaderBytes bounds one part header block. The MIME reader keeps a
// header in memory while parsing it, so a hostile part with a 30 MB header
// (one long line or thousands of folded ones) would otherwise cost its size.
const maxHeaderBytes = 64 << 10

// headerGuard watches a stream for header blocks (after each
// "--boundary" line of a multipart body, or at the start of a
// message/rfc822 body) and ends any that grows past maxHeaderBytes by
// injecting an empty line: the rest of the oversized header is then read as
// the part's body. It changes nothing in well-formed mail.
type headerGuard struct {
	r         io.Reader
	dash      []byte // "--" + boundary; nil for message/rfc822
	inHeader  bool
	hdrBytes  int
	lineStart bool
	lineLen   int
	match     int    // bytes of dash matched at the start of this line, -1 when not matching
	out       []byte // pending output, a slice of obuf
	obuf      []byte
	buf       []byte
	err       error
	hit       bool // an oversized header was cut
}

func newHeaderGuard(r io.Reader, boundary string, startInHeader bool) *headerGuard {
	g := &headerGuard{r: r, inHeader: startInHeader, lineStart: true, buf: make([]byte, 4<<10)}
	if boundary != "" {
		g.dash = []byte("--" + boundary)
	}
	return g
}

func (g *headerGuard) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		n, err := g.r.Read(g.buf)
		g.err = err
		g.out = g.obuf[:0]
		data := g.buf[:n]
		for len(data) > 0 {
			if !g.inHeader && !g.lineStart && (g.match < 0 || g.match == len(g.dash)) {
				// Mid-line in a body: nothing to track until the next newline.
				j := bytes.IndexByte(data, '\n')
				if j < 0 {
					g.out = append(g.out, data...)
					break
				}
				g.out = append(g.out, data[:j]...)
				data = data[j:]
			}
			g.out = append(g.out, data[0])
			g.step(data[0])
			data = data[1:]
		}
		g.obuf = g.out[:0]
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	return n, nil
}

func (g *headerGuard) step(c byte) {
	if g.lineStart {
		g.match, g.lineLen, g.lineStart = 0, 0, false
	}
	if g.match >= 0 && g.match < len(g.dash) {
		if c == g.dash[g.match] {
			g.match++
		} else {
			g.match = -1
		}
	}
	switch c {
	case '\n':
		g.lineStart = true
		switch {
		case g.dash != nil && g.match == len(g.dash):
			// RFC 2046 §5.1.1: a boundary line is followed by the part's
			// header fields.
			g.inHeader, g.hdrBytes = true, 0
		case g.inHeader && g.lineLen == 0:
			g.inHeader = false
		}
	case '\r':
	default:
		g.lineLen++
	}
	if g.inHeader {
		g.hdrBytes++
		if g.hdrBytes > maxHeaderBytes {
			g.out = append(g.out, "\r\n\r\n"...)
			g.inHeader, g.hit, g.lineStart = false, true, true
		}
	}
}
