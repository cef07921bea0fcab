package milter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The milter library (d--j/go-milter v0.10.1) indexes packet bytes without
// bounds checks in a few places: a zero-length packet, a connect packet
// without a NUL after the host name or without address family, a MAIL/RCPT
// packet without NUL terminator. Its per-connection goroutine has no recover,
// so one such packet would kill the daemon. guardConn sits between the socket
// and the library, reads whole packets, and closes the connection on any
// packet the library could not parse safely. It is a framing validator, not a
// second protocol implementation: valid packets pass through byte for byte.

// errBadPacket is returned to the library (which then drops the connection)
// when the MTA sends a malformed packet.
var errBadPacket = errors.New("milter: malformed packet")

// guardListener wraps accepted connections in guardConn.
type guardListener struct {
	net.Listener
	maxPacket uint32
	log       *slog.Logger
	rejected  *atomic.Int64
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	// The buffered reader takes back-to-back packets (with the no-reply
	// flags the MTA streams headers and body without waiting) in one
	// syscall instead of two per packet.
	return &guardConn{Conn: c, r: bufio.NewReaderSize(c, 8<<10), maxPacket: l.maxPacket, log: l.log, rejected: l.rejected}, nil
}

type guardConn struct {
	net.Conn
	r         *bufio.Reader
	maxPacket uint32
	log       *slog.Logger
	rejected  *atomic.Int64
	buf       []byte // validated bytes not yet handed to the library
	err       error

	wmu  sync.Mutex // the progress goroutine writes too
	wbuf []byte     // written packets held back (see Write)
}

// maxHeldWrite bounds what Write holds back; past it, it writes through.
const maxHeldWrite = 64 << 10

// Write holds back the packets of message modifications (header and
// recipient changes, body replacement, quarantine) and sends them in one
// write with the packet that ends the exchange (accept, reject, continue,
// progress, ...). The MTA applies modifications only once the final
// answer to end-of-message arrives, and reads packets as a stream, so the
// bytes and their order are the same; a verdict with four added headers
// costs one write system call instead of ten (the library writes each
// packet's header and data separately).
func (c *guardConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = append(c.wbuf, p...)
	if len(c.wbuf) <= maxHeldWrite && onlyModifications(c.wbuf) {
		return len(p), nil
	}
	_, err := c.Conn.Write(c.wbuf)
	if cap(c.wbuf) > maxHeldWrite {
		c.wbuf = nil
	} else {
		c.wbuf = c.wbuf[:0]
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// onlyModifications reports whether b holds nothing but whole or partly
// written modification packets and the start of any packet (its length
// and command not yet all there); false once any other complete packet
// is in b.
func onlyModifications(b []byte) bool {
	for len(b) >= 5 {
		n := int(binary.BigEndian.Uint32(b))
		switch b[4] {
		case '+', '-', '2', 'b', 'e', 'h', 'i', 'm', 'q':
			// SMFIR_ADDRCPT, DELRCPT, ADDRCPT_PAR, REPLBODY, CHGFROM,
			// ADDHEADER, INSHEADER, CHGHEADER, QUARANTINE.
		default:
			if len(b)-4 >= n {
				return false
			}
		}
		if len(b)-4 < n {
			return true // the rest of this packet is still to come
		}
		b = b[4+n:]
	}
	return true
}

func (c *guardConn) Read(p []byte) (int, error) {
	if len(c.buf) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		if err := c.fill(); err != nil {
			c.err = err
			if errors.Is(err, errBadPacket) {
				if c.rejected != nil {
					c.rejected.Add(1)
				}
				c.log.Warn("closing milter connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return 0, err
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// fill reads one packet from the socket and validates it.
func (c *guardConn) fill() error {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return fmt.Errorf("%w: zero length", errBadPacket)
	}
	if n > c.maxPacket {
		return fmt.Errorf("%w: length %d exceeds cap %d", errBadPacket, n, c.maxPacket)
	}
	pkt := make([]byte, 4+int(n))
	copy(pkt, hdr[:])
	if _, err := io.ReadFull(c.r, pkt[4:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := validatePacket(pkt[4], pkt[5:]); err != nil {
		return err
	}
	c.buf = pkt
	return nil
}

// SetReadDeadline is passed through; the library sets it per packet.
func (c *guardConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// validatePacket checks what the library assumes about a command's data
// (milter protocol, sendmail libmilter/docs and the library's session.go).
func validatePacket(code byte, data []byte) error {
	nul := func() int {
		for i, b := range data {
			if b == 0 {
				return i
			}
		}
		return -1
	}
	switch code {
	case 'O': // SMFIC_OPTNEG: version, actions, protocol (3 x uint32)
		if len(data) < 12 {
			return fmt.Errorf("%w: option negotiation with %d bytes", errBadPacket, len(data))
		}
	case 'C': // SMFIC_CONNECT: host NUL family [port(2) addr NUL]
		i := nul()
		if i < 0 || i+1 >= len(data) {
			return fmt.Errorf("%w: connect without address family", errBadPacket)
		}
		switch data[i+1] {
		case '4', '6', 'L':
			if len(data) < i+4 {
				return fmt.Errorf("%w: connect without port", errBadPacket)
			}
		case 'U':
		default:
			return fmt.Errorf("%w: connect with unknown family %q", errBadPacket, data[i+1])
		}
	case 'M', 'R': // SMFIC_MAIL, SMFIC_RCPT: address NUL [args NUL]...
		if nul() < 0 {
			return fmt.Errorf("%w: %c without NUL terminator", errBadPacket, code)
		}
	case 'H', 'L', 'D': // HELO, header, macro: need at least one byte
		if len(data) == 0 {
			return fmt.Errorf("%w: empty %c", errBadPacket, code)
		}
	}
	return nil
}
