package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Persistence is what a Redis server says about its own persistence
// (CONFIG GET appendonly, appendfsync, save), and so what an acknowledged
// report survives.
type Persistence struct {
	// AOF: appendonly yes. Redis writes each command to the append-only
	// file before it replies (with appendfsync everysec it may postpone
	// that write by up to 2 s while a slow background fsync runs);
	// appendfsync says when the file reaches the disk.
	AOF   bool
	Fsync string // always, everysec, no
	// Save is the RDB snapshot schedule ("" = none).
	Save string
}

// Durable reports whether an acknowledged write survives a crash of Redis
// and of the machine (appendonly yes, appendfsync always).
func (p Persistence) Durable() bool { return p.AOF && p.Fsync == "always" }

// Loses says what a crash would lose of acknowledged feedback, in words
// for the operator's log; "" when nothing.
func (p Persistence) Loses() string {
	switch {
	case p.Durable():
		return ""
	case p.AOF && p.Fsync == "everysec":
		return "a crash may lose up to the last 2 seconds of reports (appendfsync everysec)"
	case p.AOF:
		return "a Redis crash may lose up to 2 seconds, a power loss or OS crash about 30 seconds of reports (appendfsync " + p.Fsync + ")"
	case p.Save != "":
		return "a Redis crash loses every report since the last RDB snapshot (appendonly no, save \"" + p.Save + "\")"
	}
	return "a Redis restart loses every report (appendonly no, no save points)"
}

// ErrNotDurable is returned (wrapped with ErrUnavailable, so the admin
// listener answers 503) when reputation.redis.persistence is fsync and the
// server would not keep an acknowledged report through a crash, or when
// reputation.redis.wait_replicas replicas did not confirm it.
var ErrNotDurable = errors.New("reputation: report not durable")

// persistenceCheck is how long a persistence reading is trusted (the
// operator can CONFIG SET the server at any time).
const persistenceCheck = 30 * time.Second

// durability holds the store's view of the server's persistence.
type durability struct {
	mode     string
	replicas int
	wait     time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	last   Persistence
	at     time.Time // of the last successful reading
	warned bool
}

// SetLogger sets where persistence warnings go (default slog.Default()).
func (s *RedisStore) SetLogger(l *slog.Logger) { s.dur.log = l }

// CheckPersistence reads the server's persistence settings (in a cluster,
// every master's, keeping the weakest), logs what a crash would lose
// (once, at warn level, unless durable), and returns them.
func (s *RedisStore) CheckPersistence(ctx context.Context) (Persistence, error) {
	var p Persistence
	if s.cluster != nil {
		var mu sync.Mutex
		first := true
		err := s.cluster.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			q, err := readPersistence(ctx, c)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Options().Addr, err)
			}
			mu.Lock()
			if first || (p.Durable() && !q.Durable()) {
				p, first = q, false
			}
			mu.Unlock()
			return nil
		})
		if err != nil {
			return Persistence{}, unavailable(err)
		}
	} else {
		var err error
		if p, err = readPersistence(ctx, s.single); err != nil {
			return Persistence{}, unavailable(err)
		}
	}
	d := &s.dur
	d.mu.Lock()
	d.last, d.at = p, time.Now()
	warn := !d.warned && p.Loses() != ""
	d.warned = d.warned || warn
	d.mu.Unlock()
	if warn {
		log := d.log
		if log == nil {
			log = slog.Default()
		}
		msg := "reputation: Redis acknowledges feedback it may lose: " + p.Loses() +
			"; set appendonly yes and appendfsync always on the server (and reputation.redis.persistence: fsync to refuse feedback otherwise)"
		if d.mode == PersistenceFsync {
			msg = "reputation: refusing feedback until Redis keeps it through a crash: " + p.Loses() + "; set appendonly yes and appendfsync always"
		}
		log.Warn(msg, "redis", s.servers)
	}
	return p, nil
}

// readPersistence asks one server for its persistence settings.
func readPersistence(ctx context.Context, c *redis.Client) (Persistence, error) {
	vals, err := c.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		return Persistence{}, fmt.Errorf("CONFIG GET appendonly: %w", err)
	}
	more, err := c.ConfigGet(ctx, "appendfsync").Result()
	if err != nil {
		return Persistence{}, fmt.Errorf("CONFIG GET appendfsync: %w", err)
	}
	save, err := c.ConfigGet(ctx, "save").Result()
	if err != nil {
		return Persistence{}, fmt.Errorf("CONFIG GET save: %w", err)
	}
	return Persistence{AOF: strings.EqualFold(vals["appendonly"], "yes"), Fsync: strings.ToLower(more["appendfsync"]), Save: strings.TrimSpace(save["save"])}, nil
}

// beforeLearn enforces reputation.redis.persistence ahead of a learn: with
// fsync it refuses unless the server is durable; with warn it reads the
// settings once, to warn.
func (s *RedisStore) beforeLearn(ctx context.Context) error {
	d := &s.dur
	if d.mode == PersistenceOff {
		return nil
	}
	d.mu.Lock()
	p, fresh, known := d.last, time.Since(d.at) < persistenceCheck, !d.at.IsZero()
	d.mu.Unlock()
	if d.mode == PersistenceWarn {
		if !known {
			// Best effort: a server without CONFIG still takes feedback.
			_, _ = s.CheckPersistence(ctx)
		}
		return nil
	}
	if !fresh {
		var err error
		if p, err = s.CheckPersistence(ctx); err != nil {
			return fmt.Errorf("%w: cannot read Redis persistence (reputation.redis.persistence: fsync): %w", ErrNotDurable, err)
		}
	}
	if !p.Durable() {
		return fmt.Errorf("%w: %w: %s", ErrUnavailable, ErrNotDurable, p.Loses())
	}
	return nil
}

// afterLearn waits for reputation.redis.wait_replicas replicas to have
// what was just written (WAIT, on the connection that wrote it).
func (s *RedisStore) afterLearn(ctx context.Context, waitOn func(ctx context.Context, n int, d time.Duration) (int64, error)) error {
	d := &s.dur
	if d.replicas <= 0 {
		return nil
	}
	got, err := waitOn(ctx, d.replicas, d.wait)
	if err != nil {
		return unavailable(fmt.Errorf("WAIT %d: %w", d.replicas, err))
	}
	if got < int64(d.replicas) {
		return fmt.Errorf("%w: %w: %d of %d replicas confirmed within %s", ErrUnavailable, ErrNotDurable, got, d.replicas, d.wait)
	}
	return nil
}
