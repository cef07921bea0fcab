package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store/storetest"
)

// TestKeySlot: the slot function agrees with the Redis Cluster
// specification's examples, and every slot has a tag.
func TestKeySlot(t *testing.T) {
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3 (the specification's check value)", got)
	}
	// key, and the part of it that is hashed
	hashed := [][2]string{
		{"{user1000}.following", "user1000"},
		{"{user1000}.followers", "user1000"},
		{"foo{}{bar}", "foo{}{bar}"}, // an empty first tag: the whole key
		{"foo{{bar}}zap", "{bar"},
		{"foo{bar}{zap}", "bar"}, // only the first tag counts
		{"vigil:rep:{abc}a:d:n", "abc"},
		{"no tag at all", "no tag at all"},
		{"open { only", "open { only"},
	}
	for _, h := range hashed {
		if got, want := keySlot(h[0]), int(crc16(h[1])%clusterSlots); got != want {
			t.Errorf("keySlot(%q) = %d, want %d (the slot of %q)", h[0], got, want, h[1])
		}
	}
	seen := map[string]bool{}
	for sl := 0; sl < clusterSlots; sl++ {
		tag := slotTag(sl)
		if tag == "" || len(tag) > 4 || strings.ContainsAny(tag, "{}") {
			t.Fatalf("slot %d: tag %q", sl, tag)
		}
		if seen[tag] {
			t.Fatalf("tag %q for two slots", tag)
		}
		seen[tag] = true
		if got := keySlot("x:{" + tag + "}y"); got != sl {
			t.Fatalf("tag %q of slot %d hashes to %d", tag, sl, got)
		}
	}
}

func openSlotted(t *testing.T, clk *clock) Store {
	s := openTestRedis(t, clk).(*RedisStore)
	s.slotted = true
	return s
}

// TestSlottedOnOneServer runs the store's behaviour tests with the learning
// steps of a cluster on one server: the same outcomes and counts.
func TestSlottedOnOneServer(t *testing.T) { testStore(t, openSlotted) }

var stepKeys = func() []Key {
	var ks []Key
	for i := 0; i < 40; i++ {
		ks = append(ks, Key{KindDomain, fmt.Sprintf("d%d.example", i), 1})
	}
	return append(ks, Key{KindSenderUnauth, "forged.example", 0.25})
}()

// wantAll checks that every key of stepKeys has the given counts.
func wantAll(t *testing.T, s Store, spam, ham float64) {
	t.Helper()
	ids := make([]string, len(stepKeys))
	for i, k := range stepKeys {
		ids[i] = k.ID()
	}
	got, err := s.Counts(context.Background(), ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range stepKeys {
		if !approx(got[i].Spam, spam*k.Weight) || !approx(got[i].Ham, ham*k.Weight) {
			t.Fatalf("%s = %+v, want spam %v ham %v (times weight %v)", ids[i], got[i], spam, ham, k.Weight)
		}
	}
}

// testResume: a learn that fails after any of its steps, then is sent
// again (as the admin listener's 503 asks), counts exactly once; so does
// a learn whose slots were only partly applied.
func testResume(t *testing.T, open func(t *testing.T) *RedisStore) {
	ctx := context.Background()
	for _, failAt := range []string{"claimed", "applied", "finalized"} {
		t.Run("fails after "+failAt, func(t *testing.T) {
			s := open(t)
			lost := errors.New("connection lost")
			s.stepHook = func(step string) error {
				if step == failAt {
					return lost
				}
				return nil
			}
			if _, err := s.Learn(ctx, "resumed", Spam, stepKeys); !errors.Is(err, lost) {
				t.Fatalf("first learn: %v, want it to fail after %s", err, failAt)
			}
			s.stepHook = nil
			if out, err := s.Learn(ctx, "resumed", Spam, stepKeys); err != nil || (out != Learned && out != Duplicate) {
				t.Fatalf("resent: %q %v", out, err)
			}
			wantAll(t, s, 1, 0)
			if out, err := s.Learn(ctx, "resumed", Spam, stepKeys); err != nil || out != Duplicate {
				t.Fatalf("third time: %q %v, want duplicate", out, err)
			}
			// The other class moves it, once.
			if out, err := s.Learn(ctx, "resumed", Ham, stepKeys); err != nil || out != Moved {
				t.Fatalf("move: %q %v", out, err)
			}
			wantAll(t, s, 0, 1)
			raw, err := s.rdb.Get(ctx, s.msgKey("resumed")).Result()
			if err != nil || strings.Contains(raw, `"p":`) {
				t.Fatalf("record after the learns: %.200s %v; want it without its pending part", raw, err)
			}
		})
	}

	t.Run("half of the slots applied, then a crash", func(t *testing.T) {
		s := open(t)
		now := s.now()
		deltas, _ := learnDeltas(nil, Spam, stepKeys, now, s.halfLife)
		rec := newRecord(Spam, stepKeys, now)
		rec.Pending = &pending{Nonce: newNonce()}
		for _, d := range deltas {
			rec.Pending.Deltas = append(rec.Pending.Deltas, pdelta{ID: d.ID, Spam: d.Spam, Ham: d.Ham})
		}
		body, _ := json.Marshal(rec)
		if won, err := s.cas(ctx, s.msgKey("half"), "", string(body)); err != nil || !won {
			t.Fatalf("claim: %v %v", won, err)
		}
		groups := s.groupBySlot(rec.Pending.Deltas, func(slot int) string { return s.markerKey(slot, "half", rec.Pending.Nonce) },
			append(s.scriptArgs(now), s.markerTTL()))
		if len(groups) < 10 {
			t.Fatalf("%d slot groups for %d keys", len(groups), len(stepKeys))
		}
		if err := s.runGroups(ctx, groupScript, groups[:len(groups)/2], true); err != nil {
			t.Fatal(err)
		}
		// The message is learned again (resent, or reported on another
		// node): the first learn is finished, and counts once.
		if out, err := s.Learn(ctx, "half", Spam, stepKeys); err != nil || out != Duplicate {
			t.Fatalf("learning the half-learned message: %q %v, want duplicate (finished, counted once)", out, err)
		}
		wantAll(t, s, 1, 0)
		// The markers outlive the learn by markerGrace, no longer.
		m := s.markerKey(keySlot(s.countKey(stepKeys[0].ID())), "half", rec.Pending.Nonce)
		if ttl, err := s.rdb.TTL(ctx, m).Result(); err != nil || ttl <= 0 || ttl > markerGrace {
			t.Fatalf("marker %s: TTL %v %v, want (0, %v]", m, ttl, err, markerGrace)
		}
	})

	t.Run("many nodes learn many messages at once", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for node := 0; node < 4; node++ {
			wg.Go(func() {
				for m := 0; m < 16; m++ {
					// Every node reports every message: each counts once.
					if _, err := s.Learn(ctx, fmt.Sprintf("msg-%d", m), Spam, stepKeys); err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		wantAll(t, s, 16, 0)
	})
}

func TestSlottedResumeOnOneServer(t *testing.T) {
	testResume(t, func(t *testing.T) *RedisStore {
		return openSlotted(t, &clock{t: time.Unix(1e9, 0)}).(*RedisStore)
	})
}

// clusterStore opens a store on a cluster with a prefix of its own.
func clusterStore(t *testing.T, c *storetest.Cluster, mod func(*Config)) *RedisStore {
	cfg := DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.Mode = ModeCluster
	cfg.Redis.Addrs = c.Addrs()[:2]
	cfg.Redis.Prefix = fmt.Sprintf("t%d:", time.Now().UnixNano())
	cfg.Redis.Timeout = filters.Duration(2 * time.Second)
	cfg.Redis.Persistence = PersistenceOff // the test servers keep nothing on disk
	cfg.HalfLife = filters.Duration(testHalfLife)
	if mod != nil {
		mod(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.now = (&clock{t: time.Unix(1e9, 0)}).now // exact counts: no decay
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRedisCluster runs the store against a real Redis Cluster of three
// masters with a replica each (made with redis-cli --cluster create on
// loopback): the behaviour tests, resumed learns, WAIT on every master
// written to, agreement with the cluster on key slots, and a read and a
// learn across a slot moved to another master.
func TestRedisCluster(t *testing.T) {
	c := storetest.StartCluster(t, 3, 1)
	ctx := context.Background()

	t.Run("behaviour", func(t *testing.T) {
		testStore(t, func(t *testing.T, clk *clock) Store {
			s := clusterStore(t, c, nil)
			s.now = clk.now
			return s
		})
	})
	t.Run("weights", func(t *testing.T) {
		testWeightStore(t, "cluster", func(t *testing.T, clk *clock) Store {
			s := clusterStore(t, c, nil)
			s.now = clk.now
			return s
		})
	})
	t.Run("resume", func(t *testing.T) {
		testResume(t, func(t *testing.T) *RedisStore {
			return clusterStore(t, c, func(cfg *Config) {
				cfg.Redis.WaitReplicas = 1
				cfg.Redis.WaitTimeout = filters.Duration(5 * time.Second)
			})
		})
	})

	t.Run("slots agree with the cluster", func(t *testing.T) {
		s := clusterStore(t, c, nil)
		keys := []string{"vigil:rep:k:domain:example.com", "vigil:rep:k:bayes:AAAAAAAAAAA", "{x}y", "a{}b", "u{{v}}w", "\xff\x00binary"}
		for sl := 0; sl < clusterSlots; sl += 997 {
			keys = append(keys, s.markerKey(sl, "digest", "nonce"))
		}
		for _, k := range keys {
			want, err := s.cluster.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if got := keySlot(k); int64(got) != want {
				t.Errorf("keySlot(%q) = %d, the cluster says %d", k, got, want)
			}
		}
	})

	t.Run("learn writes every master and waits for each", func(t *testing.T) {
		s := clusterStore(t, c, func(cfg *Config) {
			cfg.Redis.WaitReplicas = 1
			cfg.Redis.WaitTimeout = filters.Duration(5 * time.Second)
		})
		if _, err := s.Learn(ctx, "spread", Spam, stepKeys); err != nil {
			t.Fatal(err)
		}
		masters := map[string]bool{}
		for _, k := range stepKeys {
			m, err := c.MasterFor(ctx, s.countKey(k.ID()))
			if err != nil {
				t.Fatal(err)
			}
			masters[m.Addr()] = true
		}
		if len(masters) != 3 {
			t.Fatalf("the keys of one message are on %d masters, want all 3 (else this test proves little)", len(masters))
		}
		wantAll(t, s, 1, 0)
		// Two replicas of each master do not exist: refused, clearly.
		strict := clusterStore(t, c, func(cfg *Config) {
			cfg.Redis.WaitReplicas = 2
			cfg.Redis.WaitTimeout = filters.Duration(300 * time.Millisecond)
		})
		_, err := strict.Learn(ctx, "needs-two", Spam, stepKeys)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotDurable) || !strings.Contains(err.Error(), "1 of 2 replicas confirmed") {
			t.Fatalf("learn with wait_replicas 2 on a cluster with one replica per master: %v", err)
		}
	})

	t.Run("a moved slot", func(t *testing.T) {
		s := clusterStore(t, c, nil)
		k := stepKeys[3]
		if _, err := s.Learn(ctx, "before-move", Spam, stepKeys); err != nil {
			t.Fatal(err)
		}
		wantAll(t, s, 1, 0) // the client has read the slot map
		moveSlot(t, c, keySlot(s.countKey(k.ID())))
		// The read follows the redirection at once.
		wantAll(t, s, 1, 0)
		// A learn may meet the old map once (503: send again), then works.
		var err error
		for i := 0; i < 50; i++ {
			if _, err = s.Learn(ctx, "after-move", Spam, stepKeys); err == nil {
				break
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("learn after the slot moved: %v", err)
		}
		wantAll(t, s, 2, 0)
	})
}

// moveSlot moves slot, with its keys, from its master to another one, the
// way redis-cli --cluster reshard does it (Redis Cluster specification,
// "Live reconfiguration").
func moveSlot(t *testing.T, c *storetest.Cluster, slot int) {
	t.Helper()
	ctx := context.Background()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DisableIdentity: true})
	defer cc.Close()
	src, err := cc.MasterForKey(ctx, "{"+slotTag(slot)+"}")
	if err != nil {
		t.Fatal(err)
	}
	var dst *redis.Client
	for _, m := range c.Masters() {
		if m.Addr() != src.Options().Addr {
			dst = m.Client()
			defer dst.Close()
			break
		}
	}
	id := func(cl *redis.Client) string {
		v, err := cl.Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	srcID, dstID := id(src), id(dst)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", srcID).Err())
	must(src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dstID).Err())
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 100).Result()
		must(err)
		if len(keys) == 0 {
			break
		}
		host, port, _ := strings.Cut(dst.Options().Addr, ":")
		args := []any{"MIGRATE", host, port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		must(src.Do(ctx, args...).Err())
	}
	for _, m := range c.Masters() {
		cl := m.Client()
		must(cl.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", dstID).Err())
		cl.Close()
	}
	c.WaitHealthy(1)
}
