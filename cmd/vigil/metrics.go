package main

import (
	"net/http"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/history"
	"github.com/vigilmail/vigil/milter"
)

// daemonMetrics is the registry /metrics serves (docs/metrics.md): the
// engine's series, what the checks count of their own, the milter's, the
// resolver's and the history's counters, and the Go and process
// collectors. Names are vigil_<area>_<thing>_{total,seconds}.
type daemonMetrics struct {
	reg     *prometheus.Registry
	engine  *engine.Metrics
	counted *engine.CountedCollector
}

func newDaemonMetrics() *daemonMetrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &daemonMetrics{reg: reg, engine: engine.NewMetrics(reg)}
}

// serve registers the counters read at each scrape from the running
// daemon: the current runtime's checks and resolver, the milter server,
// the history recorder (nil when none).
func (d *daemonMetrics) serve(srv *milter.Server, current *atomic.Pointer[runtime], rec *history.Recorder) {
	d.counted = engine.NewCountedCollector(func() []filters.Sample {
		out := runtimeSamples(current.Load())
		out = append(out, milterSamples(srv.Stats())...)
		return append(out, historySamples(rec)...)
	})
	d.reg.MustRegister(d.counted)
}

// replace swaps the running runtime for next (config reload) as one step
// for the metrics: what old counted is kept, and no scrape sees it twice.
func (d *daemonMetrics) replace(current *atomic.Pointer[runtime], old, next *runtime) {
	if d.counted == nil {
		current.Store(next)
		return
	}
	d.counted.Replace(runtimeSamples(old), func() { current.Store(next) })
}

func (d *daemonMetrics) handler() http.Handler {
	return promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{})
}

// runtimeSamples are the counts of one runtime's checks, pipeline and
// resolver.
func runtimeSamples(rt *runtime) []filters.Sample {
	out := rt.engine.Samples()
	p := rt.engine.Pipeline()
	out = append(out,
		filters.Sample{Name: "vigil_check_panics_total", Help: "Recovered panics in checks (each also counts in vigil_check_errors_total).", Value: float64(p.Panics.Load())},
		filters.Sample{Name: "vigil_check_abandoned_total", Help: "Checks that had not returned at their deadline and were left to finish alone.", Value: float64(p.Abandoned.Load())})
	if rt.resolver != nil {
		out = append(out, resolverSamples(rt.resolver.Stats())...)
	}
	return out
}

func resolverSamples(d dnsrep.Stats) []filters.Sample {
	return []filters.Sample{
		{Name: "vigil_dns_queries_total", Help: "DNS queries sent to the configured servers.", Value: float64(d.Queries)},
		{Name: "vigil_dns_timeouts_total", Help: "DNS queries that timed out.", Value: float64(d.Timeouts)},
		{Name: "vigil_dns_cache_hits_total", Help: "DNS lookups answered from the cache.", Value: float64(d.CacheHits)},
		{Name: "vigil_dns_cache_misses_total", Help: "DNS lookups the cache could not answer.", Value: float64(d.CacheMisses)},
		{Name: "vigil_dns_cache_entries", Help: "DNS answers in the cache now.", Gauge: true, Value: float64(d.CacheEntries)},
	}
}

func milterSamples(st milter.Stats) []filters.Sample {
	return []filters.Sample{
		{Name: "vigil_milter_messages_total", Help: "Messages the MTA handed over the milter protocol.", Value: float64(st.Messages)},
		{Name: "vigil_milter_panics_total", Help: "Recovered panics in milter sessions and the engine (answered tempfail).", Value: float64(st.Panics)},
		{Name: "vigil_milter_bad_packets_total", Help: "Milter connections closed for a malformed packet.", Value: float64(st.BadPackets)},
	}
}

func historySamples(rec *history.Recorder) []filters.Sample {
	if rec == nil {
		return nil
	}
	c := &rec.Counters
	help := "Verdicts for the history: written to the store, dropped (queue full), failed (the store refused the batch)."
	return []filters.Sample{
		{Name: "vigil_history_entries_total", Help: help, Labels: []string{"outcome", "written"}, Value: float64(c.Written.Load())},
		{Name: "vigil_history_entries_total", Help: help, Labels: []string{"outcome", "dropped"}, Value: float64(c.Dropped.Load())},
		{Name: "vigil_history_entries_total", Help: help, Labels: []string{"outcome", "failed"}, Value: float64(c.Errors.Load())},
	}
}
