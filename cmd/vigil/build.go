package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/engine"
)

func asUsage(err error, ue *usageError) bool { return errors.As(err, ue) }

// loadConfig loads the file (or defaults); errors are usage errors (exit 2).
func loadConfig(path string) (config.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		return c, usageError{err}
	}
	return c, nil
}

func newLogger(c config.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// runtime is everything built from one config: the engine and what it
// owns (resolver, stores). close releases it.
type runtime struct {
	engine  *engine.Engine
	closers []func() error
}

func (r *runtime) close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		_ = r.closers[i]()
	}
}

func authservID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return strings.ToLower(h)
}

// build constructs the engine from a validated config.
func build(c config.Config, log *slog.Logger) (*runtime, error) {
	rt := &runtime{}
	p := filters.NewPipeline(c.Limits.CheckTimeout, c.Limits.MessageTimeout, log)
	e, err := engine.New(engine.Options{
		Policy:     c.FiltersPolicy(),
		FailClosed: c.Policy.FailClosed,
		Pipeline:   p,
		AuthservID: authservID(),
		Log:        log,
	})
	if err != nil {
		rt.close()
		return nil, usageError{fmt.Errorf("config: %w", err)}
	}
	rt.engine = e
	return rt, nil
}
