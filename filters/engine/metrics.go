package engine

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/history"
	"github.com/vigilmail/vigil/filters/store"
)

// Metrics are the engine's Prometheus series: made once per process
// (NewMetrics) and handed to every engine a reload builds, so counts go on
// across reloads. A nil *Metrics records nothing.
type Metrics struct {
	checkSeconds   *prometheus.HistogramVec
	checkErrors    *prometheus.CounterVec
	verdicts       *prometheus.CounterVec
	verdictSeconds prometheus.Histogram
	symbols        *prometheus.CounterVec
	learned        *prometheus.CounterVec
	storeErrors    *prometheus.CounterVec

	// symbolSeen bounds the symbol label: names past maxSymbolLabels
	// are counted as "OTHER" (symbol names come from the configuration
	// and the catalogue, but a bound costs nothing).
	mu         sync.Mutex
	symbolSeen map[string]bool
}

const maxSymbolLabels = 2000

// Learning sources (the source label of vigil_learn_reports_total).
const (
	SourceAPI       = "api"       // POST /learn/spam, /learn/ham, /api/history/{id}/learn with the bearer token
	SourceDashboard = "dashboard" // the dashboard's buttons and upload
	SourceCLI       = "cli"       // vigil learn
	SourceAutolearn = "autolearn" // bayes.autolearn
)

// checkBuckets are the check duration buckets (seconds): most checks take
// microseconds from cache and milliseconds over DNS.
var checkBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// NewMetrics registers the engine's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		checkSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_check_duration_seconds", Help: "How long each check ran per message.", Buckets: checkBuckets,
		}, []string{"check"}),
		checkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_check_errors_total",
			Help: "Check runs that did not end well, by check and reason: incomplete (evidence missing: DNS or store unanswered), error, panic, timeout, skipped.",
		}, []string{"check", "reason"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_filter_verdicts_total",
			Help: "Verdicts by action taken and by the action the policy chose before policy.dry_run softened it (equal without dry run).",
		}, []string{"action", "would_be"}),
		verdictSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vigil_filter_verdict_seconds", Help: "How long the pipeline took to judge one message.", Buckets: history.LatencyBounds,
		}),
		symbols: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_filter_symbols_total", Help: "Verdicts that carried each symbol.",
		}, []string{"symbol"}),
		learned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_learn_reports_total",
			Help: "Feedback reports by class (spam, ham), source (api, dashboard, cli, autolearn) and outcome (learned, moved, duplicate, refused, failed).",
		}, []string{"class", "source", "outcome"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_store_errors_total", Help: "Reputation store calls that failed, by operation (counts, add, learn, results, history).",
		}, []string{"op"}),
		symbolSeen: map[string]bool{},
	}
	reg.MustRegister(m.checkSeconds, m.checkErrors, m.verdicts, m.verdictSeconds, m.symbols, m.learned, m.storeErrors)
	for _, a := range history.Actions {
		m.verdicts.WithLabelValues(string(a), string(a))
	}
	for _, class := range []store.Class{store.Spam, store.Ham} {
		for _, src := range []string{SourceAPI, SourceDashboard, SourceCLI} {
			m.learned.WithLabelValues(string(class), src, string(store.Learned))
		}
	}
	for _, op := range []string{"counts", "add", "learn", "results", "history"} {
		m.storeErrors.WithLabelValues(op)
	}
	return m
}

// observeCheck is the pipeline's Observe hook.
func (m *Metrics) observeCheck(check string, took time.Duration, o filters.CheckOutcome) {
	if o != filters.CheckSkipped {
		m.checkSeconds.WithLabelValues(check).Observe(took.Seconds())
	}
	if o != filters.CheckOK {
		m.checkErrors.WithLabelValues(check, string(o)).Inc()
	}
}

// checksKnown creates the series of every check of a pipeline, so they
// are exported (at zero) before the first message.
func (m *Metrics) checksKnown(p *filters.Pipeline) {
	for _, names := range p.Checks() {
		for _, n := range names {
			m.checkSeconds.WithLabelValues(n)
			for _, o := range []filters.CheckOutcome{filters.CheckIncomplete, filters.CheckError, filters.CheckPanic, filters.CheckTimeout, filters.CheckSkipped} {
				m.checkErrors.WithLabelValues(n, string(o))
			}
		}
	}
}

// Observe counts one verdict (a verdict observer).
func (m *Metrics) Observe(_ *filters.Message, v filters.Verdict, took time.Duration) {
	wb := v.WouldBe
	if wb == "" {
		wb = v.Action
	}
	m.verdicts.WithLabelValues(string(v.Action), string(wb)).Inc()
	m.verdictSeconds.Observe(took.Seconds())
	for _, s := range v.Symbols {
		m.symbols.WithLabelValues(m.symbolLabel(s.Name)).Inc()
	}
}

func (m *Metrics) symbolLabel(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.symbolSeen[name] {
		return name
	}
	if len(m.symbolSeen) >= maxSymbolLabels {
		return "OTHER"
	}
	m.symbolSeen[name] = true
	return name
}

// learnOutcome counts one feedback report.
func (m *Metrics) learnOutcome(class store.Class, source string, outcome store.Outcome, err error) {
	if m == nil {
		return
	}
	o := string(outcome)
	switch {
	case err == nil:
	case errorIsRefusal(err):
		o = "refused"
	default:
		o = "failed"
	}
	if class == "" {
		class = "unknown"
	}
	m.learned.WithLabelValues(string(class), source, o).Inc()
}

// StoreError counts a failed store call of op.
func (m *Metrics) StoreError(op string) {
	if m != nil {
		m.storeErrors.WithLabelValues(op).Inc()
	}
}

// countingStore counts the errors of the store calls the checks and
// learning make.
type countingStore struct {
	store.Store
	m *Metrics
}

func (s countingStore) Counts(ctx context.Context, ids []string) ([]store.Counts, error) {
	c, err := s.Store.Counts(ctx, ids)
	if err != nil {
		s.m.StoreError("counts")
	}
	return c, err
}

func (s countingStore) Add(ctx context.Context, deltas []store.Delta) error {
	err := s.Store.Add(ctx, deltas)
	if err != nil {
		s.m.StoreError("add")
	}
	return err
}

func (s countingStore) Learn(ctx context.Context, digest string, class store.Class, keys []store.Key) (store.Outcome, error) {
	o, err := s.Store.Learn(ctx, digest, class, keys)
	if err != nil {
		s.m.StoreError("learn")
	}
	return o, err
}

// countingResults counts the errors of the link follower's result store.
type countingResults struct {
	store.ResultStore
	m *Metrics
}

func (s countingResults) LoadResult(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := s.ResultStore.LoadResult(ctx, key)
	if err != nil {
		s.m.StoreError("results")
	}
	return v, ok, err
}

func (s countingResults) SaveResult(ctx context.Context, key string, data []byte, ttl time.Duration) error {
	err := s.ResultStore.SaveResult(ctx, key, data, ttl)
	if err != nil {
		s.m.StoreError("results")
	}
	return err
}

// Samples returns what the engine's checks count of their own
// (filters.Counted) and the pipeline's recovered panics and abandoned
// checks.
func (e *Engine) Samples() []filters.Sample {
	var out []filters.Sample
	for _, c := range e.checks {
		if cc, ok := c.(filters.Counted); ok {
			out = append(out, cc.Samples()...)
		}
	}
	return out
}

// CountedCollector exports filters.Samples as Prometheus metrics. At each
// scrape it reads the current samples and adds what Replace was given: the
// last samples of engines a reload replaced, so a count never goes back
// when the checks that kept it are rebuilt. Gauges are the current value
// only.
type CountedCollector struct {
	current func() []filters.Sample

	mu      sync.Mutex
	retired map[string]filters.Sample // by series key
}

// NewCountedCollector returns a collector over current.
func NewCountedCollector(current func() []filters.Sample) *CountedCollector {
	return &CountedCollector{current: current, retired: map[string]filters.Sample{}}
}

func seriesKey(s filters.Sample) string { return s.Name + "\x00" + strings.Join(s.Labels, "\x00") }

// Replace adds the final counts of replaced checks (old) and runs swap,
// which makes the replacement current, as one step: no scrape sees both
// the old checks and their retired counts, or neither.
func (c *CountedCollector) Replace(old []filters.Sample, swap func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range old {
		if s.Gauge {
			continue
		}
		k := seriesKey(s)
		r, ok := c.retired[k]
		if !ok {
			r = s
			r.Value = 0
		}
		r.Value += s.Value
		c.retired[k] = r
	}
	swap()
}

// Describe implements prometheus.Collector. It describes nothing: the
// families depend on the configuration (which lists), so this is an
// unchecked collector.
func (c *CountedCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *CountedCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	merged := map[string]filters.Sample{}
	var keys []string
	for _, s := range c.current() {
		k := seriesKey(s)
		if old, ok := merged[k]; ok {
			s.Value += old.Value
		} else {
			keys = append(keys, k)
		}
		merged[k] = s
	}
	for k, r := range c.retired {
		s, ok := merged[k]
		if !ok {
			s = r
			s.Value = 0
			keys = append(keys, k)
		}
		s.Value += r.Value
		merged[k] = s
	}
	sort.Strings(keys)
	descs := map[string]*prometheus.Desc{}
	for _, k := range keys {
		s := merged[k]
		var names, values []string
		for i := 0; i+1 < len(s.Labels); i += 2 {
			names = append(names, s.Labels[i])
			values = append(values, s.Labels[i+1])
		}
		dk := s.Name + "\x00" + strings.Join(names, "\x00")
		d := descs[dk]
		if d == nil {
			d = prometheus.NewDesc(s.Name, s.Help, names, nil)
			descs[dk] = d
		}
		vt := prometheus.CounterValue
		if s.Gauge {
			vt = prometheus.GaugeValue
		}
		m, err := prometheus.NewConstMetric(d, vt, s.Value, values...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(d, err)
			continue
		}
		ch <- m
	}
}

// errorIsRefusal: the report itself was refused (not a message, too
// large), as opposed to the store failing to take it.
func errorIsRefusal(err error) bool {
	return errors.Is(err, ErrNotMessage) || errors.Is(err, ErrTooLarge)
}
