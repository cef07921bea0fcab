package main

import (
	"log/slog"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/milter"
)

// reload re-reads the config on SIGHUP. A bad new config is refused and the
// old one kept. The listen address and milter limits need a restart.
func reload(path string, old config.Config, rt *runtime, srv *milter.Server, log *slog.Logger) *runtime {
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("reload refused: keeping the running configuration", "err", err)
		return rt
	}
	next, err := build(cfg, log)
	if err != nil {
		log.Error("reload refused: keeping the running configuration", "err", err)
		return rt
	}
	srv.SetEngine(next.engine)
	if cfg.Milter != old.Milter || cfg.Limits != old.Limits {
		log.Warn("reload: milter and limits settings change only on restart")
	}
	// Messages in flight hold the old engine; its resources are released
	// when the process exits (old resolver/store handles are cheap).
	log.Info("configuration reloaded", "config", path, "checks", next.engine.Pipeline().Checks())
	return next
}
