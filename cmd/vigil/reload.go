package main

import (
	"log/slog"
	"reflect"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/milter"
)

// reload re-reads the config on SIGHUP. A bad new config is refused and the
// old one kept. The listen address and milter limits need a restart. Either
// way the DNS cache is flushed: SIGHUP is the operator's lever against bad
// records with long TTLs.
func reload(path string, old config.Config, rt *runtime, srv *milter.Server, st store.Store, log *slog.Logger) (*runtime, config.Config) {
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("reload refused: keeping the running configuration", "err", err)
		flushDNS(rt, log)
		return rt, old
	}
	for _, w := range cfg.Warnings {
		log.Warn("config: " + w)
	}
	if !reflect.DeepEqual(cfg.Reputation, old.Reputation) {
		log.Warn("reload: reputation store settings change only on restart; keeping the open store")
		cfg.Reputation = old.Reputation
	}
	next, err := build(cfg, log, st)
	if err != nil {
		log.Error("reload refused: keeping the running configuration", "err", err)
		flushDNS(rt, log)
		return rt, old
	}
	next.engine.Start()
	srv.SetEngine(next.engine)
	if cfg.Milter != old.Milter || cfg.Limits != old.Limits {
		log.Warn("reload: milter and limits settings change only on restart")
	}
	// The new runtime has its own, empty cache. Messages in flight finish
	// on the old engine; stop its background work and drop its cache.
	flushDNS(rt, log)
	rt.engine.Close()
	log.Info("configuration reloaded", "config", path, "checks", next.engine.Pipeline().Checks())
	return next, cfg
}

func flushDNS(rt *runtime, log *slog.Logger) {
	if rt.resolver != nil {
		log.Info("DNS cache flushed", "entries", rt.resolver.Flush())
	}
}
