package milter

import (
	"fmt"
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/lineartest"
)

// TestHeaderOverflowReachesEngine: past limits.max_headers the message
// reaches the engine marked HeadersOverflow (the engine refuses it), with
// no body kept, and the next message on the connection starts afresh.
func TestHeaderOverflowReachesEngine(t *testing.T) {
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, testConfig(), eng) // MaxHeaders: 100
	s := openSession(t, addr, "192.0.2.10")
	var filler [][2]string
	for i := 0; i < 120; i++ {
		filler = append(filler, [2]string{fmt.Sprintf("X-Filler-%d", i), "x"})
	}
	send(t, s, sentMessage{from: "a@sender.example", subject: "padded", body: "BODYMARK\r\n", extraHeaders: filler})
	send(t, s, sentMessage{from: "a@sender.example", subject: "next", body: "BODYMARK\r\n"})
	msgs := eng.messages()
	if len(msgs) != 2 {
		t.Fatalf("engine saw %d messages, want 2", len(msgs))
	}
	if msgs[0].HeadersOverflow == "" || len(msgs[0].Headers) != 100 || msgs[0].Body.Size() != 0 {
		t.Fatalf("padded message: overflow %q, %d fields, body %d bytes; want overflow, 100 fields, no body",
			msgs[0].HeadersOverflow, len(msgs[0].Headers), msgs[0].Body.Size())
	}
	if msgs[1].HeadersOverflow != "" || msgs[1].Header("Subject") != "next" || msgs[1].Body.Size() == 0 {
		t.Fatalf("next message inherited the overflow: %q %q %d", msgs[1].HeadersOverflow, msgs[1].Header("Subject"), msgs[1].Body.Size())
	}
}

// TestHeaderCollectionLinear: the bytes the milter allocates per header byte
// stay constant from 1,000 folded lines to 4,000 (the MTA sends a folded
// field as one value with its line breaks).
func TestHeaderCollectionLinear(t *testing.T) {
	cfg := testConfig()
	cfg.MaxHeaderBytes = 64 << 20
	cfg.MaxPacket = 64 << 20
	eng := &testEngine{policy: filters.Policy{Tag: 5, Reject: 15}}
	_, addr := startServer(t, cfg, eng)
	s := openSession(t, addr, "192.0.2.10")
	lineartest.Check(t, "folded To:", func(n int) []byte {
		return []byte("x" + strings.Repeat(",\n\tuser@example.test", n))
	}, 1000, 64, func(v []byte) {
		mods, act := send(t, s, sentMessage{from: "a@sender.example", subject: "big", extraHeaders: [][2]string{{"To", string(v)}}})
		if act.Type != gomilter.ActionAccept {
			t.Fatalf("action %v %+v", act.Type, mods)
		}
	})
}
