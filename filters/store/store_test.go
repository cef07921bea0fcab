package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store/storetest"
)

// clock is a settable time source for decay tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testHalfLife = 24 * time.Hour

type storeOpener func(t *testing.T, clk *clock) Store

func openTestBolt(t *testing.T, clk *clock) Store {
	s, err := OpenBolt(t.TempDir(), testHalfLife, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.now = clk.now
	t.Cleanup(func() { s.Close() })
	return s
}

func openTestRedis(t *testing.T, clk *clock) Store {
	cfg := DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.Addr = storetest.Redis(t)
	cfg.Redis.Prefix = fmt.Sprintf("t%d:", time.Now().UnixNano())
	cfg.Redis.Timeout = filters.Duration(2 * time.Second)
	cfg.HalfLife = filters.Duration(testHalfLife)
	s, err := OpenRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.now = clk.now
	t.Cleanup(func() { s.Close() })
	return s
}

func startRedis(t testing.TB) string { return storetest.Redis(t) }

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	// go-redis logs every refused dial of the tests that stop servers
	// on purpose, between the benchmark figures too.
	redis.SetLogger(quietRedis{})
	code := m.Run()
	storetest.Stop()
	os.Exit(code)
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func approx(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func wantCounts(t *testing.T, s Store, id string, spam, ham float64) {
	t.Helper()
	got, err := s.Counts(context.Background(), []string{id})
	if err != nil {
		t.Fatal(err)
	}
	if !approx(got[0].Spam, spam) || !approx(got[0].Ham, ham) {
		t.Fatalf("counts of %s = %+v, want spam %v ham %v", id, got[0], spam, ham)
	}
}

func TestStores(t *testing.T) {
	for name, open := range map[string]storeOpener{"bbolt": openTestBolt, "redis": openTestRedis} {
		t.Run(name, func(t *testing.T) { testStore(t, open) })
	}
}

func testStore(t *testing.T, open storeOpener) {
	ctx := context.Background()
	keysA := []Key{{KindIP, "192.0.2.1", 1}, {KindDomain, "example.com", 1}, {KindSenderUnauth, "example.org", 0.25}}

	t.Run("unknown keys are zero, many in one call", func(t *testing.T) {
		s := open(t, &clock{t: time.Unix(1e9, 0)})
		ids := make([]string, 50)
		for i := range ids {
			ids[i] = fmt.Sprintf("domain:d%d.example", i)
		}
		got, err := s.Counts(ctx, ids)
		if err != nil || len(got) != len(ids) {
			t.Fatalf("Counts = %d, %v", len(got), err)
		}
		for _, c := range got {
			if c != (Counts{}) {
				t.Fatalf("unknown key has counts %+v", c)
			}
		}
		if err := s.Add(ctx, []Delta{{ID: ids[7], Spam: 2}, {ID: ids[42], Ham: 3}}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Counts(ctx, ids)
		if got[7].Spam != 2 || got[42].Ham != 3 || got[8].Total() != 0 {
			t.Fatalf("after Add: %+v %+v %+v", got[7], got[42], got[8])
		}
	})

	t.Run("learn is idempotent and moves between classes", func(t *testing.T) {
		s := open(t, &clock{t: time.Unix(1e9, 0)})
		steps := []struct {
			class   Class
			want    Outcome
			ip, unA [2]float64 // spam, ham
		}{
			{Spam, Learned, [2]float64{1, 0}, [2]float64{0.25, 0}},
			{Spam, Duplicate, [2]float64{1, 0}, [2]float64{0.25, 0}},
			{Ham, Moved, [2]float64{0, 1}, [2]float64{0, 0.25}},
			{Ham, Duplicate, [2]float64{0, 1}, [2]float64{0, 0.25}},
			{Spam, Moved, [2]float64{1, 0}, [2]float64{0.25, 0}},
		}
		for i, st := range steps {
			got, err := s.Learn(ctx, "digest-1", st.class, keysA)
			if err != nil || got != st.want {
				t.Fatalf("step %d: Learn(%s) = %q, %v; want %q", i, st.class, got, err, st.want)
			}
			wantCounts(t, s, "ip:192.0.2.1", st.ip[0], st.ip[1])
			wantCounts(t, s, "sender_unauth:example.org", st.unA[0], st.unA[1])
		}
		// A different message adds to the same keys.
		if got, err := s.Learn(ctx, "digest-2", Spam, keysA[:1]); err != nil || got != Learned {
			t.Fatalf("second message: %q, %v", got, err)
		}
		wantCounts(t, s, "ip:192.0.2.1", 2, 0)
		wantCounts(t, s, "domain:example.com", 1, 0)
	})

	t.Run("counts decay with the half-life", func(t *testing.T) {
		clk := &clock{t: time.Unix(1e9, 0)}
		s := open(t, clk)
		if _, err := s.Learn(ctx, "d1", Spam, keysA); err != nil {
			t.Fatal(err)
		}
		clk.advance(testHalfLife)
		wantCounts(t, s, "domain:example.com", 0.5, 0)
		// New evidence adds to the decayed count.
		if _, err := s.Learn(ctx, "d2", Spam, keysA); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, s, "domain:example.com", 1.5, 0)
		clk.advance(testHalfLife)
		wantCounts(t, s, "domain:example.com", 0.75, 0)
		// Moving d1 takes back what is left of it (a quarter), not 1.
		if got, err := s.Learn(ctx, "d1", Ham, keysA); err != nil || got != Moved {
			t.Fatalf("move: %q, %v", got, err)
		}
		wantCounts(t, s, "domain:example.com", 0.5, 1)
	})

	t.Run("counts never go below zero", func(t *testing.T) {
		s := open(t, &clock{t: time.Unix(1e9, 0)})
		if err := s.Add(ctx, []Delta{{ID: "ip:a", Spam: 1}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, []Delta{{ID: "ip:a", Spam: -5, Ham: -1}}); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, s, "ip:a", 0, 0)
		if err := s.Add(ctx, []Delta{{ID: "ip:a", Spam: math.NaN()}}); err == nil {
			t.Fatal("NaN delta accepted")
		}
	})

	t.Run("concurrent adds are atomic", func(t *testing.T) {
		s := open(t, &clock{t: time.Unix(1e9, 0)})
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- s.Add(ctx, []Delta{{ID: "ns:ns1.example.net", Spam: 1}, {ID: "ns:ns2.example.net", Ham: 0.5}})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		wantCounts(t, s, "ns:ns1.example.net", 40, 0)
		wantCounts(t, s, "ns:ns2.example.net", 0, 20)
	})

	t.Run("concurrent learning of one message counts once", func(t *testing.T) {
		s := open(t, &clock{t: time.Unix(1e9, 0)})
		var wg sync.WaitGroup
		outcomes := make(chan Outcome, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, err := s.Learn(ctx, "same", Spam, keysA)
				if err != nil {
					t.Error(err)
				}
				outcomes <- o
			}()
		}
		wg.Wait()
		close(outcomes)
		learned := 0
		for o := range outcomes {
			if o == Learned {
				learned++
			}
		}
		if learned != 1 {
			t.Fatalf("%d of 20 concurrent learns reported Learned, want 1", learned)
		}
		wantCounts(t, s, "ip:192.0.2.1", 1, 0)
	})

	t.Run("cancelled context fails with ErrUnavailable", func(t *testing.T) {
		s := open(t, &clock{t: time.Unix(1e9, 0)})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Counts(cctx, []string{"ip:a"}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Counts with cancelled ctx: %v", err)
		}
	})
}

// TestRedisSharedByNodes: two clients (two Vigil nodes) on one Redis see
// each other's feedback, and the same message reported on both counts once.
func TestRedisSharedByNodes(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	addr := startRedis(t)
	cfg := DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.Addr = addr
	cfg.Redis.Prefix = "shared-test:"
	a, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a.(*RedisStore).now, b.(*RedisStore).now = clk.now, clk.now
	ctx := context.Background()
	keys := []Key{{KindNS, "ns1.bad.example", 1}}
	if o, err := a.Learn(ctx, "m1", Spam, keys); err != nil || o != Learned {
		t.Fatalf("node A: %q %v", o, err)
	}
	if o, err := b.Learn(ctx, "m1", Spam, keys); err != nil || o != Duplicate {
		t.Fatalf("node B relearning: %q %v, want duplicate", o, err)
	}
	wantCounts(t, b, "ns:ns1.bad.example", 1, 0)
	// TTL is set on written keys.
	ttl, err := b.(*RedisStore).rdb.TTL(ctx, "shared-test:k:ns:ns1.bad.example").Result()
	if err != nil || ttl <= 0 || ttl > cfg.RedisTTL() {
		t.Fatalf("TTL = %v, %v; want in (0, %v]", ttl, err, cfg.RedisTTL())
	}
}

// TestRedisDown: a store that is unreachable or silent fails fast with
// ErrUnavailable, within the configured timeout.
func TestRedisDown(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		defer func() { recover() }()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // accept and never answer
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	refused, _ := net.Listen("tcp", "127.0.0.1:0")
	refusedAddr := refused.Addr().String()
	refused.Close()

	for name, addr := range map[string]string{"silent": silent.Addr().String(), "refused": refusedAddr} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Backend = "redis"
			cfg.Redis.Addr = addr
			cfg.Redis.Timeout = filters.Duration(100 * time.Millisecond)
			s, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := s.Counts(ctx, []string{"ip:192.0.2.1"}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Counts: %v, want ErrUnavailable", err)
			}
			if _, err := s.Learn(ctx, "d", Spam, []Key{{KindIP, "192.0.2.1", 1}}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Learn: %v, want ErrUnavailable", err)
			}
			if ctx.Err() != nil {
				t.Fatal("store calls ran into the outer 5s deadline instead of the 100ms store timeout")
			}
		})
	}
}

func TestBoltLocked(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenBolt(dir, testHalfLife, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// bbolt's flock is per open file description, so a second Open in
	// the same process sees the lock like another process would.
	_, err = OpenBolt(dir, testHalfLife, 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v, want a locked error", err)
	}
}

const crashChildEnv = "VIGIL_REPUTATION_CRASH_CHILD"

// crashChild learns messages forever, printing each digest after Learn
// returned (acknowledged). The parent kills it with SIGKILL.
func crashChild(dir string) {
	s, err := OpenBolt(dir, testHalfLife, 5*time.Second)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	start := os.Getpid() * 1000000
	for i := start; ; i++ {
		d := fmt.Sprintf("crash-%d", i)
		keys := []Key{{KindIP, "192.0.2.1", 1}, {KindDomain, fmt.Sprintf("d%d.example", i%97), 1}}
		for j := 0; j < 20; j++ {
			keys = append(keys, Key{KindContent, fmt.Sprintf("%d-%d", i, j), 1})
		}
		if _, err := s.Learn(context.Background(), d, Spam, keys); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Println("acked", d)
	}
}

// TestBoltCrashLosesNothing kills a learning child process with SIGKILL at
// several points and checks after each kill that the file is consistent
// and holds every acknowledged message.
func TestBoltCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	dir := t.TempDir()
	var acked []string
	for round, after := range []int{1, 7, 25} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			d, ok := strings.CutPrefix(line, "acked ")
			if !ok {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: child said %q", round, line)
			}
			acked = append(acked, d)
			if n++; n == after {
				// Kill in the middle of the next Learn.
				cmd.Process.Kill()
				break
			}
		}
		// Drain what the child printed before it died: those were acked too.
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "acked "); ok {
				acked = append(acked, d)
			}
		}
		cmd.Wait()
		if n < after {
			t.Fatalf("round %d: child stopped after %d messages", round, n)
		}

		s, err := OpenBolt(dir, testHalfLife, 5*time.Second)
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		if err := s.Check(); err != nil {
			s.Close()
			t.Fatalf("round %d: bbolt consistency check: %v", round, err)
		}
		for _, d := range acked {
			o, err := s.Learn(context.Background(), d, Spam, nil)
			if err != nil || o != Duplicate {
				s.Close()
				t.Fatalf("round %d: acknowledged message %s lost after kill -9 (%q, %v)", round, d, o, err)
			}
		}
		c, err := s.Counts(context.Background(), []string{"ip:192.0.2.1"})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		// The IP key is in every message; it may include one more
		// committed-but-unacknowledged message per round.
		if c[0].Spam < float64(len(acked))*0.999 || c[0].Spam > float64(len(acked)+round+1) {
			t.Fatalf("round %d: IP spam count %v for %d acknowledged messages", round, c[0].Spam, len(acked))
		}
	}
}

func TestBoltPrune(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	s := openTestBolt(t, clk).(*BoltStore)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := s.Learn(ctx, fmt.Sprintf("old%d", i), Spam, []Key{{KindDomain, fmt.Sprintf("old%d.example", i), 1}, {KindIP, "192.0.2.1", 1}}); err != nil {
			t.Fatal(err)
		}
	}
	clk.advance(10 * testHalfLife)
	if _, err := s.Learn(ctx, "new", Spam, []Key{{KindDomain, "new.example", 1}, {KindIP, "192.0.2.1", 1}}); err != nil {
		t.Fatal(err)
	}
	records, counts, err := s.Prune(ctx, clk.now().Add(-8*testHalfLife), 0.01)
	if err != nil {
		t.Fatal(err)
	}
	if records != 5 || counts != 5 {
		t.Fatalf("pruned %d records and %d counts, want 5 and 5", records, counts)
	}
	// The recent message is still known; the IP key kept its (mostly new) evidence.
	if o, err := s.Learn(ctx, "new", Spam, nil); err != nil || o != Duplicate {
		t.Fatalf("recent record pruned: %q %v", o, err)
	}
	if o, err := s.Learn(ctx, "old0", Spam, nil); err != nil || o != Learned {
		t.Fatalf("old record still there: %q %v", o, err)
	}
	got, _ := s.Counts(ctx, []string{"ip:192.0.2.1", "domain:old1.example"})
	if got[0].Spam < 1 || got[1].Total() != 0 {
		t.Fatalf("counts after prune: %+v", got)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBolt(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "data")
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*BoltStore); !ok {
		t.Fatalf("Open(bbolt) = %T", s)
	}
	if _, err := os.Stat(filepath.Join(cfg.Path, BoltFile)); err != nil {
		t.Fatalf("bbolt file not at <path>/%s: %v", BoltFile, err)
	}
	cfg.Backend = "x"
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "reputation.backend") {
		t.Fatalf("Open with a bad backend: %v", err)
	}
}

func TestResultStore(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) ResultStore{
		"bbolt": func(t *testing.T) ResultStore {
			s, err := OpenBolt(t.TempDir(), time.Hour, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func(t *testing.T) ResultStore {
			cfg := DefaultConfig()
			cfg.Backend = "redis"
			cfg.Redis.Addr = startRedis(t)
			cfg.Redis.Prefix = "results-test:"
			s, err := OpenRedis(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			ctx := context.Background()
			if _, ok, err := s.LoadResult(ctx, "http://a.example/x"); ok || err != nil {
				t.Fatalf("empty store: %v %v", ok, err)
			}
			if err := s.SaveResult(ctx, "http://a.example/x", []byte(`{"outcome":"landed"}`), time.Hour); err != nil {
				t.Fatal(err)
			}
			long := "http://a.example/" + strings.Repeat("p", 2000)
			if err := s.SaveResult(ctx, long, []byte("long"), time.Hour); err != nil {
				t.Fatal(err)
			}
			if v, ok, err := s.LoadResult(ctx, "http://a.example/x"); !ok || err != nil || string(v) != `{"outcome":"landed"}` {
				t.Fatalf("load: %q %v %v", v, ok, err)
			}
			if v, ok, _ := s.LoadResult(ctx, long); !ok || string(v) != "long" {
				t.Fatalf("long key: %q %v", v, ok)
			}
			if err := s.SaveResult(ctx, "big", make([]byte, maxResultValue+1), time.Hour); err == nil {
				t.Fatal("oversized value accepted")
			}
		})
	}
	// Expiry on bbolt (Redis expires by itself).
	b, err := OpenBolt(t.TempDir(), time.Hour, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	b.now = func() time.Time { return now }
	b.SaveResult(context.Background(), "k", []byte("v"), time.Minute)
	b.now = func() time.Time { return now.Add(2 * time.Minute) }
	if _, ok, _ := b.LoadResult(context.Background(), "k"); ok {
		t.Fatal("expired result returned")
	}
	if _, _, err := b.Prune(context.Background(), now, 0); err != nil {
		t.Fatal(err)
	}
}

// Kinds the tests use; the store itself gives kinds no meaning.
const (
	KindIP           Kind = "ip"
	KindDomain       Kind = "domain"
	KindSenderUnauth Kind = "sender_unauth"
	KindNS           Kind = "ns"
	KindContent      Kind = "content"
)

// TestRecordForms: records are written with their keys grouped by kind and
// weight, and records written before, one object per key, still read the
// same, so a message learned then can still be moved.
func TestRecordForms(t *testing.T) {
	keys := []Key{{KindDomain, "a.example", 1}, {"bayes", "AAAAAAAAAAA", 1}, {KindDomain, "b.example", 1},
		{KindSenderUnauth, "c.example", 0.25}, {"bayes", "#messages", 1}, {"", "no-kind", 1}}
	rec := newRecord(Spam, keys, time.Unix(1e9, 0))
	rec.Keys = append(rec.Keys, wkey{ID: "no-colon", Weight: 1}) // as Add takes any id
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"id"`) || !strings.Contains(string(b), `"v":["a.example","b.example"]`) {
		t.Fatalf("written form: %s", b)
	}
	var back record
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	byID := func(r record) map[string]float64 {
		m := map[string]float64{}
		for _, k := range r.Keys {
			m[k.ID] = k.Weight
		}
		return m
	}
	if got, want := byID(back), byID(rec); fmt.Sprint(got) != fmt.Sprint(want) || len(back.Keys) != len(rec.Keys) {
		t.Fatalf("read back %v, want %v", got, want)
	}
	old := `{"c":"spam","t":1000000000000000000,"k":[{"id":"domain:a.example","w":1},{"id":"sender_unauth:c.example","w":0.25}]}`
	var o record
	if err := json.Unmarshal([]byte(old), &o); err != nil || o.Class != Spam || len(o.Keys) != 2 || o.Keys[1] != (wkey{"sender_unauth:c.example", 0.25}) {
		t.Fatalf("earlier form read as %+v %v", o, err)
	}

	// A message learned as spam in the earlier form moves to ham.
	clk := &clock{t: time.Unix(1e9, 0)}
	s := openTestRedis(t, clk).(*RedisStore)
	ctx := context.Background()
	if err := s.Add(ctx, []Delta{{ID: "domain:a.example", Spam: 1}, {ID: "sender_unauth:c.example", Spam: 0.25}}); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Set(ctx, s.msgKey("old"), old, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if out, err := s.Learn(ctx, "old", Ham, []Key{{KindDomain, "a.example", 1}, {KindSenderUnauth, "c.example", 0.25}}); err != nil || out != Moved {
		t.Fatalf("moving an earlier record: %q %v", out, err)
	}
	wantCounts(t, s, "domain:a.example", 0, 1)
	wantCounts(t, s, "sender_unauth:c.example", 0, 0.25)
}

// TestRedisExpiries: a key with the evidence of one report expires after
// once_ttl, with more after ttl; records after record_ttl. On one server
// and in the cluster's steps alike.
func TestRedisExpiries(t *testing.T) {
	for _, slotted := range []bool{false, true} {
		t.Run(fmt.Sprintf("slotted=%v", slotted), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Backend = "redis"
			cfg.Redis.Addr = storetest.Redis(t)
			cfg.Redis.Prefix = fmt.Sprintf("t%d:", time.Now().UnixNano())
			cfg.Redis.Persistence = PersistenceOff
			cfg.Redis.TTL = filters.Duration(100 * time.Hour)
			cfg.Redis.OnceTTL = filters.Duration(10 * time.Hour)
			cfg.Redis.RecordTTL = filters.Duration(5 * time.Hour)
			s, err := OpenRedis(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.slotted = slotted
			ctx := context.Background()
			ttl := func(key string, want time.Duration) {
				t.Helper()
				got, err := s.rdb.TTL(ctx, key).Result()
				if err != nil || got > want || got < want-time.Minute {
					t.Fatalf("TTL of %s = %v %v, want %v", key, got, err, want)
				}
			}
			keys := []Key{{KindDomain, "a.example", 1}, {KindSenderUnauth, "b.example", 0.25}}
			if _, err := s.Learn(ctx, "m1", Spam, keys); err != nil {
				t.Fatal(err)
			}
			ttl(s.countKey("domain:a.example"), 10*time.Hour)
			ttl(s.countKey("sender_unauth:b.example"), 10*time.Hour)
			ttl(s.msgKey("m1"), 5*time.Hour)
			if _, err := s.Learn(ctx, "m2", Spam, keys); err != nil {
				t.Fatal(err)
			}
			ttl(s.countKey("domain:a.example"), 100*time.Hour) // two reports
			ttl(s.countKey("sender_unauth:b.example"), 10*time.Hour)
		})
	}
}
