package milter

import (
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
)

var (
	fuzzOnce sync.Once
	fuzzAddr string
)

// FuzzMilterStream sends arbitrary bytes after a valid option negotiation
// to a live server. The library runs each connection in a goroutine without
// recover: any panic it reaches kills the fuzzing process, so surviving
// inputs prove the guard and our callbacks hold.
func FuzzMilterStream(f *testing.F) {
	fuzzOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.Fatal(err)
		}
		eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
		srv := NewServer(testConfig(), eng, slog.New(slog.NewTextHandler(io.Discard, nil)))
		go srv.Serve(ln)
		fuzzAddr = ln.Addr().String()
	})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(rawPacket('C', []byte("host\x004\x00\x19192.0.2.1\x00")))
	f.Add(append(rawPacket('C', []byte("h\x00U")), rawPacket('M', []byte("<a@b>\x00"))...))
	f.Add(append(rawPacket('D', []byte("Ci\x00QID\x00")), rawPacket('H', []byte("helo\x00"))...))
	f.Add(append(rawPacket('L', []byte("Subject\x00x\x00")), rawPacket('N', nil)...))
	f.Add(append(rawPacket('B', []byte("body")), rawPacket('E', nil)...))
	f.Add(rawPacket('R', []byte("x")))
	f.Add(rawPacket('O', []byte{1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := net.Dial("tcp", fuzzAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write(negotiatePacket())
		c.Write(data)
		c.Write(rawPacket('Q', nil))
		// Half-close: a truncated packet in data then ends in EOF instead
		// of waiting for the read deadline.
		c.(*net.TCPConn).CloseWrite()
		io.Copy(io.Discard, c)
	})
}

func FuzzValidatePacket(f *testing.F) {
	f.Add(byte('C'), []byte("host\x004\x00\x19"))
	f.Add(byte('M'), []byte("<a@b>"))
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		_ = validatePacket(code, data)
	})
}
