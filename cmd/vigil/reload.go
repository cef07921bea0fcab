package main

import (
	"log/slog"
	"strings"

	"github.com/vigilmail/vigil/cmd/vigil/admin"
	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/milter"
)

// restartOnly are the keys a running daemon cannot change: the listening
// sockets, what the milter library fixed when it started serving, the
// reputation store (opened once per process) and the log format. A reload
// keeps their running values and says so; every other key is applied.
var restartOnly = []struct {
	key  string
	keep func(next *config.Config, running config.Config)
}{
	{"milter.listen", func(n *config.Config, r config.Config) { n.Milter.Listen = r.Milter.Listen }},
	{"milter.read_timeout", func(n *config.Config, r config.Config) { n.Milter.ReadTimeout = r.Milter.ReadTimeout }},
	{"milter.write_timeout", func(n *config.Config, r config.Config) { n.Milter.WriteTimeout = r.Milter.WriteTimeout }},
	{"limits.max_packet", func(n *config.Config, r config.Config) { n.Limits.MaxPacket = r.Limits.MaxPacket }},
	{"reputation.backend", func(n *config.Config, r config.Config) { n.Reputation.Backend = r.Reputation.Backend }},
	{"reputation.path", func(n *config.Config, r config.Config) { n.Reputation.Path = r.Reputation.Path }},
	{"reputation.redis", func(n *config.Config, r config.Config) { n.Reputation.Redis = r.Reputation.Redis }},
	{"reputation.half_life", func(n *config.Config, r config.Config) { n.Reputation.HalfLife = r.Reputation.HalfLife }},
	{"admin.listen", func(n *config.Config, r config.Config) { n.Admin.Listen = r.Admin.Listen }},
	{"log.format", func(n *config.Config, r config.Config) { n.Log.Format = r.Log.Format }},
}

// reload re-reads the config on SIGHUP. A file that cannot be used (empty,
// unparsable, invalid, an unreadable token file) is refused whole and the
// running configuration kept. Otherwise every changed key is applied or,
// for restartOnly keys, explicitly kept at its running value, and the log
// names both. Either way the DNS cache is flushed: SIGHUP is the
// operator's lever against bad records with long TTLs.
func reload(path string, running config.Config, rt *runtime, srv *milter.Server, adm *admin.Server, st store.Store, log *slog.Logger) (*runtime, config.Config) {
	refuse := func(err error) (*runtime, config.Config) {
		log.Error("reload refused: keeping the running configuration", "config", path, "err", err)
		flushDNS(rt, log)
		return rt, running
	}
	next, err := config.Load(path)
	if err == nil {
		for _, w := range next.Warnings {
			log.Warn("config: " + w)
		}
	}
	if err != nil {
		return refuse(err)
	}
	var kept []string
	for _, k := range config.Changed(running, next) {
		for _, r := range restartOnly {
			if k == r.key || strings.HasPrefix(k, r.key+".") {
				r.keep(&next, running)
				kept = append(kept, k)
				break
			}
		}
	}
	if err := next.Validate(); err != nil {
		return refuse(err)
	}
	var token string
	if adm != nil {
		if token, err = adminToken(next); err != nil {
			return refuse(err)
		}
	}
	nrt, err := build(next, log, st)
	if err != nil {
		return refuse(err)
	}
	applied := config.Changed(running, next)
	nrt.engine.Start()
	srv.SetEngine(nrt.engine)
	srv.SetLimits(next.MilterConfig())
	if adm != nil {
		if adm.SetToken(token) && !contains(applied, "admin.token") {
			applied = append(applied, "admin.token_file (its token)")
		}
		adm.SetLimits(adminLimits(next))
	}
	_ = logLevel.UnmarshalText([]byte(next.Log.Level))
	// The new runtime has its own, empty cache. Messages in flight finish
	// on the old engine; stop its background work and drop its cache.
	flushDNS(rt, log)
	rt.engine.Close()
	if len(kept) > 0 {
		log.Warn("reload: these keys change only on restart; their running values are kept", "keys", strings.Join(kept, ","))
	}
	if len(applied) == 0 {
		applied = []string{"(no changes)"}
	}
	log.Info("configuration reloaded", "config", path, "applied", strings.Join(applied, ","), "checks", nrt.engine.Pipeline().Checks())
	return nrt, next
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func flushDNS(rt *runtime, log *slog.Logger) {
	if rt.resolver != nil {
		log.Info("DNS cache flushed", "entries", rt.resolver.Flush())
	}
}
