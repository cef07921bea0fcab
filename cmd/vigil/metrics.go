package main

import (
	"github.com/vigilmail/vigil/milter"
)

// metrics collects the daemon's counters under Prometheus names
// (vigil_<area>_<thing>_{total,seconds}).
func metrics(srv *milter.Server, rt *runtime) map[string]float64 {
	st := srv.Stats()
	m := map[string]float64{
		"vigil_milter_messages_total":    float64(st.Messages),
		"vigil_milter_panics_total":      float64(st.Panics),
		"vigil_milter_bad_packets_total": float64(st.BadPackets),
		"vigil_check_panics_total":       float64(rt.engine.Pipeline().Panics.Load()),
		"vigil_check_abandoned_total":    float64(rt.engine.Pipeline().Abandoned.Load()),
	}
	for a, n := range srv.ActionCounts() {
		m[`vigil_verdicts_total{action="`+a+`"}`] = float64(n)
	}
	if entries := rt.engine.ListEntries(); entries != nil {
		reloads, refused := rt.engine.ListReloads()
		m["vigil_lists_reloads_total"] = float64(reloads)
		m["vigil_lists_reloads_refused_total"] = float64(refused)
		for name, n := range entries {
			m[`vigil_lists_entries{list="`+name+`"}`] = float64(n)
		}
	}
	if rt.resolver != nil {
		d := rt.resolver.Stats()
		m["vigil_dns_cache_hits_total"] = float64(d.CacheHits)
		m["vigil_dns_cache_misses_total"] = float64(d.CacheMisses)
		m["vigil_dns_cache_entries"] = float64(d.CacheEntries)
		m["vigil_dns_queries_total"] = float64(d.Queries)
		m["vigil_dns_timeouts_total"] = float64(d.Timeouts)
	}
	return m
}
