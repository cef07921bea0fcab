package milter

import (
	"bytes"
	"net"
	"testing"
)

// countConn records each write that reaches the socket.
type countConn struct {
	net.Conn
	writes [][]byte
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func packet(code byte, data string) (hdr, body []byte) {
	n := len(data) + 1
	return []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), code}, []byte(data)
}

// TestGuardWriteHoldsModifications: header changes wait for the final
// answer and go out with it in one write, byte for byte in order; a
// progress packet goes out at once.
func TestGuardWriteHoldsModifications(t *testing.T) {
	cc := &countConn{}
	g := &guardConn{Conn: cc}
	var want []byte
	write := func(code byte, data string) {
		h, b := packet(code, data)
		want = append(want, h...)
		want = append(want, b...)
		if _, err := g.Write(h); err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			if _, err := g.Write(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	write('p', "")
	if len(cc.writes) != 1 {
		t.Fatalf("progress held back: %d writes", len(cc.writes))
	}
	write('i', "\x00\x00\x00\x00Authentication-Results\x00mx; spf=pass\x00")
	write('h', "X-Spam-Status\x00No\x00")
	write('h', "X-Spam-Score\x000.0\x00")
	if len(cc.writes) != 1 {
		t.Fatalf("modifications written before the final answer: %d writes", len(cc.writes))
	}
	write('y', "550 5.7.1 no\x00")
	if len(cc.writes) != 2 {
		t.Fatalf("want the modifications and the reply code in one write, got %d writes", len(cc.writes)-1)
	}
	if got := bytes.Join(cc.writes, nil); !bytes.Equal(got, want) {
		t.Fatalf("bytes on the wire differ:\n got %q\nwant %q", got, want)
	}
	write('a', "")
	if len(cc.writes) != 3 || len(g.wbuf) != 0 {
		t.Fatalf("accept not written at once: %d writes, %d held", len(cc.writes), len(g.wbuf))
	}
}

// TestGuardWriteBound: a long run of modifications is written through
// once it passes maxHeldWrite.
func TestGuardWriteBound(t *testing.T) {
	cc := &countConn{}
	g := &guardConn{Conn: cc}
	h, b := packet('b', string(make([]byte, 60<<10)))
	for i := 0; i < 2; i++ {
		g.Write(h)
		g.Write(b)
	}
	if len(cc.writes) != 1 || len(g.wbuf) != 0 {
		t.Fatalf("want one write through past %d bytes, got %d writes, %d held", maxHeldWrite, len(cc.writes), len(g.wbuf))
	}
}
