package lists

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/vigilmail/vigil/filters"
)

// million is the size of the lists the README's figures are for.
const million = 1_000_000

// writeMillion writes n entries to a file in dir: domains of two or
// three labels, or IPv4 /32s, /24s and IPv6 /64s mixed.
func writeMillion(tb testing.TB, dir string, ips bool, n int) string {
	tb.Helper()
	path := filepath.Join(dir, fmt.Sprintf("list-%v.txt", ips))
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		switch {
		case !ips && i%3 == 0:
			fmt.Fprintf(w, "mail%d.host%d.example\n", i%97, i)
		case !ips:
			fmt.Fprintf(w, "spam-domain-%d.example # reported\n", i)
		case i%3 == 0:
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(0x0a000000+i))
			fmt.Fprintf(w, "%s\n", netip.AddrFrom4(b))
		case i%3 == 1:
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(0x20000000+i<<8))
			fmt.Fprintf(w, "%s/24\n", netip.AddrFrom4(b))
		default:
			var b [16]byte
			b[0], b[1] = 0x20, 0x01
			binary.BigEndian.PutUint32(b[4:], uint32(i))
			fmt.Fprintf(w, "%s/64\n", netip.AddrFrom16(b))
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return path
}

func quietDeps() Deps { return Deps{Log: slog.New(slog.DiscardHandler)} }

// BenchmarkLoadMillion: the time to read a list file of a million entries
// (one op is one whole load) and the heap it holds.
//
//	go test -run '^$' -bench LoadMillion -benchtime 3x ./filters/lists
func BenchmarkLoadMillion(b *testing.B) {
	for _, tc := range []struct {
		name  string
		ips   bool
		match Match
	}{{"domains", false, MatchFromDomain}, {"ips", true, MatchIP}} {
		b.Run(tc.name, func(b *testing.B) {
			path := writeMillion(b, b.TempDir(), tc.ips, million)
			cfg := Config{Lists: []List{{Name: "BIG", Match: tc.match, File: path, Action: filters.ListDeny}}}
			var c *Check
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				var err error
				if c, err = New(cfg, quietDeps()); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if n := c.Entries()["BIG"]; n != million {
				b.Fatalf("%d entries loaded", n)
			}
			var before, after runtime.MemStats
			c = nil
			runtime.GC()
			runtime.ReadMemStats(&before)
			c, _ = New(cfg, quietDeps())
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
			runtime.KeepAlive(c)
		})
	}
}

// BenchmarkLookupMillion: one message's lookup in a list of a million
// entries: a From domain of four labels (each parent probed) that is
// not listed, one that is, and the client address against a million
// mixed prefixes.
//
//	go test -run '^$' -bench LookupMillion ./filters/lists
func BenchmarkLookupMillion(b *testing.B) {
	dir := b.TempDir()
	domains, err := New(Config{Lists: []List{{Name: "BIG", Match: MatchFromDomain, File: writeMillion(b, dir, false, million), Action: filters.ListDeny}}}, quietDeps())
	if err != nil {
		b.Fatal(err)
	}
	ips, err := New(Config{Lists: []List{{Name: "NETS", Match: MatchIP, File: writeMillion(b, dir, true, million), Action: filters.ListDeny}}}, quietDeps())
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		c    *Check
		m    *filters.Message
		hit  bool
	}{
		{"domain-miss", domains, message("a@news.mail.clean.example", "", nil, filters.AuthResults{}), false},
		{"domain-hit", domains, message("a@www.spam-domain-77.example", "", nil, filters.AuthResults{}), true},
		{"ip-miss", ips, message("a@b.example", "", nil, filters.AuthResults{}), false},
	}
	hitIP := message("a@b.example", "", nil, filters.AuthResults{})
	hitIP.Envelope.ClientIP = netip.MustParseAddr("10.0.0.3")
	cases = append(cases, struct {
		name string
		c    *Check
		m    *filters.Message
		hit  bool
	}{"ip-hit", ips, hitIP, true})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			tc.m.Identities()
			syms, _ := tc.c.Run(context.Background(), tc.m)
			if (len(syms) == 1) != tc.hit {
				b.Fatalf("symbols %+v, want a hit %v", syms, tc.hit)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tc.c.Run(context.Background(), tc.m)
			}
		})
	}
}

// TestMillionEntries: a list of a million entries loads whole and finds
// its entries (the timings are the benchmarks'). Skipped with -short.
func TestMillionEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("a million entries: skipped with -short")
	}
	path := writeMillion(t, t.TempDir(), true, million)
	c, err := New(Config{Lists: []List{{Name: "NETS", Match: MatchIP, File: path}}}, quietDeps())
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Entries()["NETS"]; n != million {
		t.Fatalf("%d entries, want %d", n, million)
	}
	s := c.lists[0].cur.Load()
	for _, tc := range []struct{ addr, want string }{
		{"10.0.0.3", "10.0.0.3/32"},
		{"32.0.4.200", "32.0.4.0/24"},
		{"2001:0:0:5:1::1", "2001:0:0:5::/64"},
		{"10.0.0.1", ""},
	} {
		p, ok := s.ip(netip.MustParseAddr(tc.addr))
		if got := map[bool]string{true: p.String()}[ok]; got != tc.want {
			t.Errorf("ip(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
}
