package content

import (
	"io"
)

// base64Reader decodes base64 leniently (RFC 2045 §6.8 says characters
// outside the alphabet "must be ignored"): junk bytes are skipped and
// counted, "=" ends a quantum so concatenated encodings decode, and a
// truncated final quantum yields the bytes it holds.
type base64Reader struct {
	r       io.Reader
	buf     [4096]byte
	out     []byte
	acc     uint32
	n       int // sextets in acc
	junk    int64
	err     error
	pending [3]byte
}

var b64 = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = int8(i)
	}
	// base64url, seen in the wild in mislabelled parts.
	t['-'], t['_'] = 62, 63
	return t
}()

func (d *base64Reader) flush() {
	switch d.n {
	case 2:
		d.out = append(d.out, byte(d.acc>>4))
	case 3:
		d.out = append(d.out, byte(d.acc>>10), byte(d.acc>>2))
	}
	d.acc, d.n = 0, 0
}

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.r.Read(d.buf[:])
		out := d.out[:0]
		d.out = out
		for _, c := range d.buf[:n] {
			v := b64[c]
			if v < 0 {
				switch c {
				case '=':
					d.flush()
				case ' ', '\t', '\r', '\n':
				default:
					d.junk++
				}
				continue
			}
			d.acc = d.acc<<6 | uint32(v)
			d.n++
			if d.n == 4 {
				d.out = append(d.out, byte(d.acc>>16), byte(d.acc>>8), byte(d.acc))
				d.acc, d.n = 0, 0
			}
		}
		if err != nil {
			d.flush()
			d.err = err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// qpReader decodes quoted-printable (RFC 2045 §6.7) leniently: an "="
// not followed by two hex digits or a line break is kept literally, as
// §6.7 note (2) recommends, instead of failing the part.
type qpReader struct {
	r     io.Reader
	buf   [4096]byte
	out   []byte
	state int // 0 normal, 1 after "=", 2 after "=X", 3 after "=" CR, 4 after "=" blanks
	h1    byte
	bad   int64
	err   error
}

func (d *qpReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		n, err := d.r.Read(d.buf[:])
		d.out = d.out[:0]
		for _, c := range d.buf[:n] {
			d.step(c)
		}
		if err != nil {
			switch d.state {
			case 1, 4:
				d.out = append(d.out, '=')
			case 2:
				d.out = append(d.out, '=', d.h1)
			}
			d.state = 0
			d.err = err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

func (d *qpReader) step(c byte) {
	switch d.state {
	case 0:
		if c == '=' {
			d.state = 1
			return
		}
		d.out = append(d.out, c)
	case 1:
		switch {
		case isHex(c):
			d.h1, d.state = c, 2
		case c == '\r':
			d.state = 3
		case c == '\n':
			d.state = 0 // soft line break
		case c == ' ' || c == '\t':
			d.state = 4
		default:
			d.bad++
			d.out = append(d.out, '=')
			d.state = 0
			d.step(c)
		}
	case 2:
		d.state = 0
		if isHex(c) {
			d.out = append(d.out, unhex(d.h1)<<4|unhex(c))
			return
		}
		d.bad++
		d.out = append(d.out, '=', d.h1)
		d.step(c)
	case 3:
		d.state = 0
		if c != '\n' {
			d.step(c)
		}
	case 4:
		switch c {
		case ' ', '\t':
		case '\r':
			d.state = 3
		case '\n':
			d.state = 0
		default:
			d.bad++
			d.out = append(d.out, '=')
			d.state = 0
			d.step(c)
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'f'
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}
