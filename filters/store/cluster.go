package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Learning in a Redis Cluster.
//
// A script may touch only keys of one hash slot, and the keys of a message
// are spread over many, so a message is learned in three steps, each of
// which can run again without counting twice:
//
//  1. claim: the record "<prefix>m:<digest>" becomes pending, holding the
//     count changes to make and a fresh nonce (compare-and-set on the
//     record: of nodes learning the same message at once, one wins);
//  2. apply: per slot, one script applies that slot's changes and sets the
//     marker "<prefix>{tag}a:<digest>:<nonce>" in the same slot, unless the
//     marker is there already (the slot was done);
//  3. finalize: the record drops its pending part (compare-and-set), and
//     the markers are left to expire an hour later.
//
// Whoever reads a pending record (the resend of a report whose learn
// failed half-way, or another node learning the same message) runs steps
// 2 and 3 for it first. With wait_replicas every step waits (WAIT) for the
// replicas of each master it wrote to before the next step starts: a
// claim is on a replica before any count changes, counts before the
// record says they are done. A learn is acknowledged only after step 3.

// pending is the unfinished part of a record: what its learn adds.
type pending struct {
	Nonce  string   `json:"n"`
	Deltas []pdelta `json:"d"`
}

type pdelta struct {
	ID   string  `json:"i"`
	Spam float64 `json:"s,omitempty"`
	Ham  float64 `json:"h,omitempty"`
}

// groupScript applies the count changes of one slot, once per learn.
// KEYS[1] is the learn's marker in this slot, KEYS[2..] the count keys;
// ARGV = scriptArgs, the marker's expiry (s), then the deltas. A marker
// that is there already is rewritten with the time it has left: nothing
// changes, but the write makes a WAIT on this connection also cover the
// earlier apply this one repeats.
var groupScript = redis.NewScript(`if redis.call('EXISTS', KEYS[1]) == 1 then
  local left = redis.call('PTTL', KEYS[1])
  if left > 0 then redis.call('PEXPIRE', KEYS[1], left) end
  return 0
end
local first = 2
local a0 = 7
` + applyLua + `
redis.call('SET', KEYS[1], '1', 'EX', ARGV[6])
return 1`)

// casScript sets KEYS[1] to ARGV[2] (expiring after ARGV[3] s; 0 = never)
// when its value has the SHA-1 ARGV[1] ("" = the key is absent).
var casScript = redis.NewScript(`local cur = redis.call('GET', KEYS[1])
local seen = ''
if cur then seen = redis.sha1hex(cur) end
if seen ~= ARGV[1] then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1`)

const (
	// slottedLearnLimit bounds one learn in steps, so that no node can
	// apply a step later than markerGrace after another finished it.
	slottedLearnLimit = 5 * time.Minute
	// markerGrace is how long markers outlive the learn they guard.
	markerGrace = time.Hour
	// pendingMarkerTTL is how long markers wait for the resend of a
	// report whose learn failed half-way (when keys never expire).
	pendingMarkerTTL = 30 * 24 * time.Hour
)

// markerKey is the marker of the learn with nonce in slot.
func (s *RedisStore) markerKey(slot int, digest, nonce string) string {
	return s.prefix + "{" + slotTag(slot) + "}a:" + digest + ":" + nonce
}

// fenceKey is a key written only so that WAIT has a write to wait for.
func (s *RedisStore) fenceKey(slot int) string { return s.prefix + "{" + slotTag(slot) + "}w" }

func (s *RedisStore) markerTTL() string {
	ttl := s.recordTTL
	if ttl <= 0 {
		ttl = pendingMarkerTTL
	}
	return seconds(ttl)
}

// masterFor is the master that holds key: the one server, the sentinels'
// master, or the cluster node serving key's slot.
func (s *RedisStore) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	if s.cluster == nil {
		return s.single, nil
	}
	c, err := s.cluster.MasterForKey(ctx, key)
	if err != nil {
		return nil, unavailable(fmt.Errorf("no master for slot %d: %w", keySlot(key), err))
	}
	return c, nil
}

// reload asks the cluster client to read the slot map again after an
// error (a failover or a moved slot); go-redis does it in the background.
func (s *RedisStore) reload() {
	if s.cluster != nil {
		s.cluster.ReloadState(context.Background())
	}
}

// step lets a test fail a learn between its steps ("claimed", "applied",
// "finalized"), as a crash or a lost connection would.
func (s *RedisStore) step(name string) error {
	if s.stepHook == nil {
		return nil
	}
	return s.stepHook(name)
}

func newNonce() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// learnSlotted is Learn in steps (see above).
func (s *RedisStore) learnSlotted(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, slottedLearnLimit)
	defer cancel()
	mk := s.msgKey(digest)
	for attempt := 0; attempt < 5; attempt++ {
		cur, deltas, outcome, now, err := s.nextLearn(ctx, s.rdb, digest, class, keys)
		if err != nil {
			s.reload()
			return "", err
		}
		if outcome == Duplicate {
			if err := s.fenceAndWait(ctx, mk); err != nil {
				return "", err
			}
			return Duplicate, nil
		}
		pd, err := pendingDeltas(deltas)
		if err != nil {
			return "", err
		}
		p := &pending{Nonce: newNonce(), Deltas: pd}
		rec := newRecord(class, keys, now)
		rec.Pending = p
		body, err := json.Marshal(rec)
		if err != nil {
			return "", err
		}
		won, err := s.cas(ctx, mk, cur, string(body))
		if err != nil {
			return "", err
		}
		if !won {
			continue // another node changed the record: read it again
		}
		if err := s.step("claimed"); err != nil {
			return "", err
		}
		if err := s.complete(ctx, digest, string(body), &rec); err != nil {
			return "", err
		}
		return outcome, nil
	}
	return "", fmt.Errorf("reputation: learn %s: record kept changing under concurrent learning", digest)
}

// cas sets key to val if it still is expect ("" = absent), on the key's
// master; with wait_replicas it then waits for the replicas.
func (s *RedisStore) cas(ctx context.Context, key, expect, val string) (bool, error) {
	node, err := s.masterFor(ctx, key)
	if err != nil {
		return false, err
	}
	conn := node.Conn()
	defer conn.Close()
	n, err := casScript.Run(ctx, conn, []string{key}, recordHash(expect), val, seconds(s.recordTTL)).Int()
	if err != nil {
		s.reload()
		return false, unavailable(fmt.Errorf("%s: %w", node.Options().Addr, err))
	}
	if n != 1 {
		return false, nil
	}
	return true, s.waitOn(ctx, node, conn)
}

// fenceAndWait makes sure, with wait_replicas, that the replicas of key's
// master have everything written there so far (a duplicate report is
// acknowledged too, and the learn it repeats may be one whose WAIT failed).
func (s *RedisStore) fenceAndWait(ctx context.Context, key string) error {
	if s.dur.replicas <= 0 {
		return nil
	}
	node, err := s.masterFor(ctx, key)
	if err != nil {
		return err
	}
	conn := node.Conn()
	defer conn.Close()
	if err := s.fence(ctx, conn, key); err != nil {
		s.reload()
		return err
	}
	return s.waitOn(ctx, node, conn)
}

// fence writes next to key (same slot) on the connection that then WAITs:
// WAIT waits for this connection's last write, and everything before it
// in the master's replication stream.
func (s *RedisStore) fence(ctx context.Context, conn *redis.Conn, key string) error {
	if err := conn.Set(ctx, s.fenceKey(keySlot(key)), "1", time.Minute).Err(); err != nil {
		return unavailable(fmt.Errorf("fence write: %w", err))
	}
	return nil
}

// waitOn runs WAIT for wait_replicas on conn (a no-op without it).
func (s *RedisStore) waitOn(ctx context.Context, node *redis.Client, conn *redis.Conn) error {
	err := s.afterLearn(ctx, func(ctx context.Context, n int, d time.Duration) (int64, error) {
		return conn.Wait(ctx, n, d).Result()
	})
	if err != nil {
		return fmt.Errorf("%w (master %s)", err, node.Options().Addr)
	}
	return nil
}

// slotGroup is one script call: keys of one slot and its arguments.
type slotGroup struct {
	keys []string
	args []any
}

// groupBySlot splits deltas by the slot of their count keys; each group's
// keys start with head(slot) when head is not nil, its arguments with
// args.
func (s *RedisStore) groupBySlot(deltas []pdelta, head func(slot int) string, args []any) []slotGroup {
	bySlot := map[int]*slotGroup{}
	var slots []int
	for _, d := range deltas {
		k := s.countKey(d.ID)
		sl := keySlot(k)
		g := bySlot[sl]
		if g == nil {
			g = &slotGroup{args: append([]any(nil), args...)}
			if head != nil {
				g.keys = append(g.keys, head(sl))
			}
			bySlot[sl] = g
			slots = append(slots, sl)
		}
		g.keys = append(g.keys, k)
		g.args = append(g.args, strconv.FormatFloat(d.Spam, 'g', -1, 64), strconv.FormatFloat(d.Ham, 'g', -1, 64))
	}
	sort.Ints(slots)
	out := make([]slotGroup, 0, len(slots))
	for _, sl := range slots {
		out = append(out, *bySlot[sl])
	}
	return out
}

// complete runs steps 2 and 3 for the pending record cur of digest.
func (s *RedisStore) complete(ctx context.Context, digest, cur string, rec *record) error {
	p := rec.Pending
	args := append(s.scriptArgs(s.now()), s.markerTTL())
	var markers []string
	groups := s.groupBySlot(p.Deltas, func(slot int) string {
		m := s.markerKey(slot, digest, p.Nonce)
		markers = append(markers, m)
		return m
	}, args)
	if err := s.runGroups(ctx, groupScript, groups, true); err != nil {
		return err
	}
	if err := s.step("applied"); err != nil {
		return err
	}
	done := *rec
	done.Pending = nil
	body, err := json.Marshal(done)
	if err != nil {
		return err
	}
	won, err := s.cas(ctx, s.msgKey(digest), cur, string(body))
	if err != nil {
		return err
	}
	if err := s.step("finalized"); err != nil {
		return err
	}
	if won {
		// The markers only have to outlast nodes still applying this
		// learn, each within slottedLearnLimit. Best effort: a marker
		// that keeps its long expiry costs memory, nothing else.
		pipe := s.rdb.Pipeline()
		for _, m := range markers {
			pipe.Expire(ctx, m, markerGrace)
		}
		_, _ = pipe.Exec(ctx)
	}
	return nil
}

// pendingDeltas are deltas as a pending record keeps them, all finite.
func pendingDeltas(deltas []Delta) ([]pdelta, error) {
	out := make([]pdelta, 0, len(deltas))
	for _, d := range deltas {
		if !isFinite(d.Spam) || !isFinite(d.Ham) {
			return nil, fmt.Errorf("reputation: delta for %q is not finite", d.ID)
		}
		out = append(out, pdelta{ID: d.ID, Spam: d.Spam, Ham: d.Ham})
	}
	return out, nil
}

// addSlotted is Add in a cluster: one script per slot.
func (s *RedisStore) addSlotted(ctx context.Context, deltas []Delta) error {
	pd, err := pendingDeltas(deltas)
	if err != nil {
		return err
	}
	return s.runGroups(ctx, addScript, s.groupBySlot(pd, nil, s.scriptArgs(s.now())), false)
}

// runGroups runs script once per group: the groups of one master in one
// pipeline on one connection, the masters in parallel; with wait (and
// wait_replicas) each connection then WAITs for the replicas.
func (s *RedisStore) runGroups(ctx context.Context, script *redis.Script, groups []slotGroup, wait bool) error {
	byNode := map[*redis.Client][]slotGroup{}
	var nodes []*redis.Client
	for _, g := range groups {
		node, err := s.masterFor(ctx, g.keys[0])
		if err != nil {
			s.reload()
			return err
		}
		if byNode[node] == nil {
			nodes = append(nodes, node)
		}
		byNode[node] = append(byNode[node], g)
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, node := range nodes {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("reputation: panic writing to %s: %v", node.Options().Addr, r)
				}
			}()
			errs[i] = s.runOnNode(ctx, node, script, byNode[node], wait)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			s.reload()
			return err
		}
	}
	return nil
}

func (s *RedisStore) runOnNode(ctx context.Context, node *redis.Client, script *redis.Script, groups []slotGroup, wait bool) error {
	conn := node.Conn()
	defer conn.Close()
	todo := groups
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt == 2 {
			return unavailable(fmt.Errorf("%s: script not loaded", node.Options().Addr))
		}
		cmds, _ := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, g := range todo {
				p.EvalSha(ctx, script.Hash(), g.keys, g.args...)
			}
			return nil
		})
		var again []slotGroup
		for i, c := range cmds {
			switch err := c.Err(); {
			case err == nil:
			case redis.HasErrorPrefix(err, "NOSCRIPT"):
				// A master that never ran the script (new, or promoted
				// after a failover): nothing of it ran there.
				again = append(again, todo[i])
			default:
				return unavailable(fmt.Errorf("%s: %w", node.Options().Addr, err))
			}
		}
		if len(again) > 0 {
			if err := script.Load(ctx, conn).Err(); err != nil {
				return unavailable(fmt.Errorf("%s: script load: %w", node.Options().Addr, err))
			}
		}
		todo = again
	}
	if !wait {
		return nil
	}
	return s.waitOn(ctx, node, conn)
}
