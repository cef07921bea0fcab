package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/store"
)

// loadConfig loads the file (or defaults); errors are usage errors (exit 2).
func loadConfig(path string) (config.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		return c, usageError{err}
	}
	return c, nil
}

// logLevel is the level of the process's logger (log.level), changed by a
// reload.
var logLevel = new(slog.LevelVar)

// newLogger returns the process's logger, in the configured level and
// format, and routes the libraries' own log output through it.
func newLogger(c config.Config, w io.Writer) *slog.Logger {
	_ = logLevel.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: logLevel}
	var log *slog.Logger
	if c.Log.Format == "json" {
		log = slog.New(slog.NewJSONHandler(w, opts))
	} else {
		log = slog.New(slog.NewTextHandler(w, opts))
	}
	routeLibraryLogs(log)
	for _, w := range c.Warnings {
		log.Warn("config: " + w)
	}
	return log
}

// runtime is everything built from one config: the engine and what it
// owns (resolver, stores). close releases it.
type runtime struct {
	engine   *engine.Engine
	resolver *dnsrep.Resolver
	closers  []func() error
}

func (r *runtime) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		_ = r.closers[i]()
	}
}

// openStore opens the reputation store of c. With optional, a store that
// cannot be opened (vigil check while the daemon holds the bbolt lock) is
// logged and nil returned: the message is judged without learned reputation.
// The store outlives config reloads: it is opened once per process.
func openStore(c config.Config, log *slog.Logger, optional bool) (store.Store, error) {
	if c.Reputation.Backend == "bbolt" {
		if err := os.MkdirAll(c.Reputation.Path, 0o750); err != nil {
			if optional {
				log.Warn("reputation store unavailable; judging without it", "err", err)
				return nil, nil
			}
			return nil, fmt.Errorf("reputation.path: %w", err)
		}
	}
	st, err := store.Open(c.Reputation.Config)
	if err != nil {
		if optional {
			log.Warn("reputation store unavailable; judging without it", "err", err)
			return nil, nil
		}
		return nil, fmt.Errorf("reputation: %w", err)
	}
	if rs, ok := st.(*store.RedisStore); ok && !optional {
		// Say at start what a Redis crash would lose of acknowledged
		// feedback (the store checks again before learning).
		rs.SetLogger(log)
		if c.Reputation.Redis.Persistence != store.PersistenceOff {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			p, err := rs.CheckPersistence(ctx)
			cancel()
			switch {
			case err != nil:
				log.Warn("reputation: cannot read Redis persistence settings now; checking again at the first report", "err", err)
			case p.Loses() == "":
				log.Info("reputation: Redis keeps acknowledged feedback through a crash (appendonly yes, appendfsync always)")
			}
		}
	}
	return st, nil
}

// build constructs the engine from a validated config over an open store
// (nil: no reputation).
func build(c config.Config, log *slog.Logger, st store.Store) (*runtime, error) {
	rt := &runtime{}
	res, err := dnsrep.New(c.DNS)
	if err != nil {
		return nil, usageError{fmt.Errorf("config: %w", err)}
	}
	res.SetLogger(log)
	rt.resolver = res
	p := filters.NewPipeline(c.Limits.CheckTimeout, c.Limits.MessageTimeout, log)
	e, err := engine.New(engine.Options{
		Policy:      c.FiltersPolicy(),
		FailClosed:  c.Policy.FailClosed,
		Pipeline:    p,
		Limits:      c.MessageLimits(),
		Log:         log,
		Resolver:    res,
		Blocklists:  c.Blocklists,
		Budgets:     c.DNSBL,
		Nameservers: c.Nameservers,
		Auth:        c.Auth,
		Content:     c.Content,
		Store:       st,
		Reputation:  c.Reputation,
		Follow:      c.Follow,
		Bayes:       c.Bayes,
		Weights:     c.Weights,
		Phishing:    c.Phishing,
		Lists:       c.Lists,
		Settings:    c.RcptPolicies(),
	})
	if err != nil {
		rt.close()
		return nil, usageError{fmt.Errorf("config: %w", err)}
	}
	rt.engine = e
	rt.closers = append(rt.closers, func() error { e.Close(); return nil })
	return rt, nil
}

// openRuntime opens the store and builds the engine for a one-shot command
// (check, learn, doctor); done releases both. With storeOptional a store
// that cannot be opened is logged and the command runs without it.
func openRuntime(c config.Config, log *slog.Logger, storeOptional bool) (rt *runtime, st store.Store, done func(), err error) {
	st, err = openStore(c, log, storeOptional)
	if err != nil {
		return nil, nil, nil, err
	}
	rt, err = build(c, log, st)
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, nil, nil, err
	}
	return rt, st, func() {
		rt.close()
		if st != nil {
			st.Close()
		}
	}, nil
}
