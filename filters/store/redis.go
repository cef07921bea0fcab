package store

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// RedisStore is the shared backend. Each key is a hash {s, h, t}: spam and
// ham counts decayed to time t (unix seconds). Writes run as Lua scripts,
// which Redis executes atomically, so concurrent nodes never lose an
// increment and decay is applied exactly once per write. Keys expire after
// TTL without writes. Learned messages are "<prefix>m:<digest>" strings.
//
// A standalone server (or the master a sentinel names) learns a message in
// one script over all its keys. A Redis Cluster runs scripts over the keys
// of one hash slot only, so there a message is learned in steps that can
// be repeated safely (cluster.go); the key names are the same in every
// mode.
type RedisStore struct {
	rdb redis.UniversalClient
	// single is the client of a standalone server or of the sentinels'
	// master (nil in a cluster); cluster is the Redis Cluster client (nil
	// otherwise).
	single  *redis.Client
	cluster *redis.ClusterClient
	// servers names the deployment in logs: "cluster 127.0.0.1:7000,...".
	servers  string
	prefix   string
	halfLife time.Duration
	// ttl, onceTTL and recordTTL expire count keys, count keys with the
	// evidence of one report at most, and records (0 = never).
	ttl, onceTTL, recordTTL time.Duration
	now                     func() time.Time
	// dur enforces reputation.redis.persistence and wait_replicas.
	dur durability
	// slotted learns in per-slot steps as in a cluster, on any server
	// (the tests of those steps use it on a standalone server).
	slotted bool
	// stepHook, when set (tests), runs between the steps of a slotted learn.
	stepHook func(step string) error
}

// redisOptions turns reputation.redis into go-redis' universal options:
// one client type for a server, a sentinel group or a cluster.
func redisOptions(rc RedisConfig) (*redis.UniversalOptions, error) {
	opt := &redis.UniversalOptions{
		Username:         rc.Username,
		Password:         rc.Password,
		SentinelUsername: rc.SentinelUsername,
		SentinelPassword: rc.SentinelPassword,
		DB:               rc.DB,
		DialTimeout:      time.Duration(rc.Timeout),
		ReadTimeout:      time.Duration(rc.Timeout),
		WriteTimeout:     time.Duration(rc.Timeout),
		// A down store must cost one deadline, not a retry ladder.
		MaxRetries:            -1,
		DialerRetries:         1,
		ContextTimeoutEnabled: true,
		DisableIdentity:       true,
		// Maintenance notifications are a managed-service feature Vigil
		// does not use. Off, they also avoid a data race in go-redis
		// v9.23.0: a connection taken with Client.Conn() has a lock of its
		// own but shares the client's options, and the first use of each
		// such connection writes MaintNotificationsConfig.Mode (falling
		// back from "auto") under that lock; two at once race (seen under
		// -race with WAIT on concurrent learns).
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	for _, a := range rc.Servers() {
		// go-redis takes a path starting with "/" as a unix socket.
		opt.Addrs = append(opt.Addrs, strings.TrimPrefix(a, "unix:"))
	}
	switch rc.mode() {
	case ModeSentinel:
		opt.MasterName = rc.MasterName
	case ModeCluster:
		opt.IsClusterMode = true
	}
	if rc.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if rc.TLSCA != "" {
			pem, err := os.ReadFile(rc.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("reputation.redis.tls_ca: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("reputation.redis.tls_ca: %s holds no PEM certificate", rc.TLSCA)
			}
		}
		opt.TLSConfig = tc
	}
	return opt, nil
}

// OpenRedis connects to the configured Redis. It does not fail when the
// servers are down: calls do, with ErrUnavailable, until they are back,
// and go-redis reconnects (and, for a cluster or sentinels, finds the new
// master after a failover) by itself.
func OpenRedis(cfg Config) (*RedisStore, error) {
	rc := cfg.Redis
	opt, err := redisOptions(rc)
	if err != nil {
		return nil, err
	}
	mode := rc.Persistence
	if mode == "" {
		mode = PersistenceWarn
	}
	s := &RedisStore{
		rdb:       redis.NewUniversalClient(opt),
		servers:   rc.mode() + " " + strings.Join(rc.Servers(), ","),
		prefix:    rc.Prefix,
		halfLife:  time.Duration(cfg.HalfLife),
		ttl:       cfg.RedisTTL(),
		onceTTL:   cfg.RedisOnceTTL(),
		recordTTL: cfg.RedisRecordTTL(),
		now:       time.Now,
		dur:       durability{mode: mode, replicas: rc.WaitReplicas, wait: time.Duration(rc.WaitTimeout)},
	}
	switch c := s.rdb.(type) {
	case *redis.Client:
		s.single = c
	case *redis.ClusterClient:
		s.cluster = c
	default:
		s.rdb.Close()
		return nil, fmt.Errorf("reputation: unexpected go-redis client %T for mode %s", c, rc.mode())
	}
	return s, nil
}

func (s *RedisStore) countKey(id string) string { return s.prefix + "k:" + id }
func (s *RedisStore) msgKey(digest string) string {
	return s.prefix + "m:" + digest
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", ErrUnavailable, err) }

// Counts implements Store: one pipelined round trip of HMGETs.
func (s *RedisStore) Counts(ctx context.Context, ids []string) ([]Counts, error) {
	out := make([]Counts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, s.countKey(id), "s", "h", "t")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	now := s.now()
	for i, cmd := range cmds {
		v := cmd.Val()
		if len(v) != 3 {
			continue
		}
		sp, ok1 := redisFloat(v[0])
		hm, ok2 := redisFloat(v[1])
		t, ok3 := redisFloat(v[2])
		if !ok1 || !ok2 || !ok3 || !validCount(sp) || !validCount(hm) {
			continue
		}
		at := time.Unix(0, int64(t*1e9))
		f := decay(now.Sub(at), s.halfLife)
		out[i] = Counts{Spam: sp * f, Ham: hm * f}
	}
	return out, nil
}

func redisFloat(v any) (float64, bool) {
	str, ok := v.(string)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(str, 64)
	return f, err == nil && isFinite(f)
}

// applyLua decays each count key to now and adds its delta. It is the tail
// of the scripts that change counts; KEYS[first..] are count keys and
// ARGV[a0+2i], ARGV[a0+2i+1] their spam and ham deltas. ARGV[1..5] are
// scriptArgs: now, half-life, and the expiries of keys, of keys with the
// evidence of one report at most, and of records (seconds, 0 = never).
const applyLua = `
local now = tonumber(ARGV[1])
local hl = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local once = tonumber(ARGV[4])
for i = first, #KEYS do
  local j = a0 + 2 * (i - first)
  local v = redis.call('HMGET', KEYS[i], 's', 'h', 't')
  local s = tonumber(v[1]) or 0
  local h = tonumber(v[2]) or 0
  local t = tonumber(v[3]) or now
  if hl > 0 and now > t then
    local f = math.pow(2, -(now - t) / hl)
    s = s * f
    h = h * f
  end
  if t < now then t = now end
  s = s + tonumber(ARGV[j])
  h = h + tonumber(ARGV[j + 1])
  if s < 0 then s = 0 end
  if h < 0 then h = 0 end
  if s < 1e-9 and h < 1e-9 then
    redis.call('DEL', KEYS[i])
  else
    redis.call('HSET', KEYS[i], 's', string.format('%.17g', s), 'h', string.format('%.17g', h), 't', string.format('%.17g', t))
    local exp = ttl
    if once > 0 and s + h <= 1 + 1e-9 then exp = once end
    if exp > 0 then redis.call('EXPIRE', KEYS[i], exp) else redis.call('PERSIST', KEYS[i]) end
  end
end
`

// addScript: ARGV = scriptArgs, then deltas; KEYS = count keys.
var addScript = redis.NewScript(`local first = 1
local a0 = 6
` + applyLua + `return 1`)

// learnScript: KEYS[1] is the message record; it proceeds only when the
// record still is what the client read (ARGV[6]: its SHA-1, "" for none),
// so two nodes learning the same message at once cannot both count it.
// ARGV[7] is the new record; deltas start at ARGV[8].
var learnScript = redis.NewScript(`local cur = redis.call('GET', KEYS[1])
local seen = ''
if cur then seen = redis.sha1hex(cur) end
if seen ~= ARGV[6] then return 0 end
local first = 2
local a0 = 8
` + applyLua + `
if tonumber(ARGV[5]) > 0 then
  redis.call('SET', KEYS[1], ARGV[7], 'EX', ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[7])
end
return 1`)

// recordHash is how scripts compare a record with what the client read,
// without sending it back (a classifier record holds thousands of keys).
func recordHash(cur string) string {
	if cur == "" {
		return ""
	}
	sum := sha1.Sum([]byte(cur))
	return hex.EncodeToString(sum[:])
}

func (s *RedisStore) scriptArgs(now time.Time) []any {
	return []any{
		strconv.FormatFloat(float64(now.UnixNano())/1e9, 'f', -1, 64),
		strconv.FormatFloat(s.halfLife.Seconds(), 'f', -1, 64),
		seconds(s.ttl), seconds(s.onceTTL), seconds(s.recordTTL),
	}
}

// seconds is an expiry in whole seconds, as scripts take it (0 = none).
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(math.Ceil(d.Seconds())), 10)
}

func appendDeltas(keys []string, args []any, deltas []Delta, s *RedisStore) ([]string, []any, error) {
	for _, d := range deltas {
		if !isFinite(d.Spam) || !isFinite(d.Ham) {
			return nil, nil, fmt.Errorf("reputation: delta for %q is not finite", d.ID)
		}
		keys = append(keys, s.countKey(d.ID))
		args = append(args, strconv.FormatFloat(d.Spam, 'g', -1, 64), strconv.FormatFloat(d.Ham, 'g', -1, 64))
	}
	return keys, args, nil
}

// Add implements Store. On one server it is one script; in a cluster one
// script per hash slot, each atomic, together not.
func (s *RedisStore) Add(ctx context.Context, deltas []Delta) error {
	if len(deltas) == 0 {
		return nil
	}
	if s.cluster != nil || s.slotted {
		return s.addSlotted(ctx, deltas)
	}
	keys, args, err := appendDeltas(nil, s.scriptArgs(s.now()), deltas, s)
	if err != nil {
		return err
	}
	if err := addScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Learn implements Store. It reads the message record, then runs the
// learn script conditioned on that record; when another node changed the
// record in between, it reads again (a few times). It returns once Redis
// acknowledged the write and, with reputation.redis.wait_replicas, once
// that many replicas have it; with reputation.redis.persistence: fsync it
// refuses to learn into a server that would lose the write in a crash. In
// a cluster it learns in repeatable steps (learnSlotted).
func (s *RedisStore) Learn(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error) {
	if digest == "" {
		return "", errors.New("reputation: empty message digest")
	}
	if err := s.beforeLearn(ctx); err != nil {
		return "", err
	}
	if s.cluster != nil || s.slotted {
		return s.learnSlotted(ctx, digest, class, keys)
	}
	if s.dur.replicas <= 0 {
		return s.learn(ctx, s.single, digest, class, keys)
	}
	// WAIT counts the replicas that have this connection's writes: write
	// and wait on one connection.
	conn := s.single.Conn()
	defer conn.Close()
	outcome, err := s.learn(ctx, conn, digest, class, keys)
	if err != nil {
		return outcome, err
	}
	if outcome == Duplicate {
		// Nothing written, yet acknowledged: the learn this repeats may be
		// one whose WAIT failed. A write after it makes WAIT cover it.
		if err := s.fence(ctx, conn, s.msgKey(digest)); err != nil {
			return "", err
		}
	}
	if err := s.afterLearn(ctx, func(ctx context.Context, n int, d time.Duration) (int64, error) {
		return conn.Wait(ctx, n, d).Result()
	}); err != nil {
		return "", err
	}
	return outcome, nil
}

// redisConn is what learning needs of a client or a single connection.
type redisConn interface {
	redis.Scripter
	Get(ctx context.Context, key string) *redis.StringCmd
}

// readRecord reads the record of a learned message ("" and nil when none).
func (s *RedisStore) readRecord(ctx context.Context, rc redisConn, digest string) (string, *record, error) {
	cur, err := rc.Get(ctx, s.msgKey(digest)).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return "", nil, unavailable(err)
	}
	if cur == "" {
		return "", nil, nil
	}
	old := new(record)
	if err := json.Unmarshal([]byte(cur), old); err != nil {
		return "", nil, fmt.Errorf("reputation: record of %s: %w", digest, err)
	}
	return cur, old, nil
}

// nextLearn reads the record of digest and computes what learning keys as
// class changes now. A pending record (a learn in steps left unfinished,
// see cluster.go) is finished first and read again.
func (s *RedisStore) nextLearn(ctx context.Context, rc redisConn, digest string, class Class, keys []Key) (cur string, deltas []Delta, outcome Outcome, now time.Time, err error) {
	for range 5 {
		var old *record
		if cur, old, err = s.readRecord(ctx, rc, digest); err != nil {
			return "", nil, "", now, err
		}
		if old == nil || old.Pending == nil {
			now = s.now()
			deltas, outcome = learnDeltas(old, class, keys, now, s.halfLife)
			return cur, deltas, outcome, now, nil
		}
		if err := s.complete(ctx, digest, cur, old); err != nil {
			return "", nil, "", now, err
		}
	}
	return "", nil, "", now, fmt.Errorf("reputation: learn %s: record kept changing under concurrent learning", digest)
}

func (s *RedisStore) learn(ctx context.Context, rc redisConn, digest string, class Class, keys []Key) (Outcome, error) {
	mk := s.msgKey(digest)
	for attempt := 0; attempt < 5; attempt++ {
		cur, deltas, outcome, now, err := s.nextLearn(ctx, rc, digest, class, keys)
		if err != nil || outcome == Duplicate {
			return outcome, err
		}
		rec, err := json.Marshal(newRecord(class, keys, now))
		if err != nil {
			return "", err
		}
		args := append(s.scriptArgs(now), recordHash(cur), string(rec))
		rkeys, args, err := appendDeltas([]string{mk}, args, deltas, s)
		if err != nil {
			return "", err
		}
		n, err := learnScript.Run(ctx, rc, rkeys, args...).Int()
		if err != nil {
			return "", unavailable(err)
		}
		if n == 1 {
			return outcome, nil
		}
	}
	return "", fmt.Errorf("reputation: learn %s: record kept changing under concurrent learning", digest)
}

// Ping checks that the server answers: in a cluster, the master of every
// shard.
func (s *RedisStore) Ping(ctx context.Context) error {
	if s.cluster != nil {
		err := s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			if err := c.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("%s: %w", c.Options().Addr, err)
			}
			return nil
		})
		if err != nil {
			return unavailable(err)
		}
		return nil
	}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// Close implements Store.
func (s *RedisStore) Close() error { return s.rdb.Close() }

// Open opens the configured backend.
func Open(cfg Config) (Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch cfg.Backend {
	case "redis":
		return OpenRedis(cfg)
	default:
		return OpenBolt(cfg.Path, time.Duration(cfg.HalfLife), 2*time.Second)
	}
}
