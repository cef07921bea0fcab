package history

import (
	"sort"
	"sync"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// Actions are the verdict actions in the order the overview shows them.
var Actions = []filters.Action{filters.Accept, filters.Tag, filters.Quarantine, filters.TempFail, filters.Reject}

func actionIndex(a filters.Action) int {
	for i, x := range Actions {
		if x == a {
			return i
		}
	}
	return 0
}

// LatencyBounds are the upper bounds (seconds) of the latency buckets the
// overview's percentiles are read from; the same as the verdict latency
// histogram's in /metrics.
var LatencyBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// minutesKept is one day of minutes.
const minutesKept = 24 * 60

type minute struct {
	start   int64 // unix minute this slot holds; another value: stale
	n       int64
	actions [5]int64
	wouldBe [5]int64
	latency [14]int64 // len(LatencyBounds)+1
	symbols map[string]int64
}

// Rates counts this node's verdicts per minute over the last day: what the
// overview draws. It is in memory and per node (a restart starts it
// again); the history, in the store, is what nodes share.
type Rates struct {
	mu      sync.Mutex
	minutes [minutesKept]minute
	now     func() time.Time
}

// NewRates returns empty rates.
func NewRates() *Rates { return &Rates{now: time.Now} }

// Observe counts one verdict (it has the signature of the engine's
// verdict observers).
func (r *Rates) Observe(_ *filters.Message, v filters.Verdict, took time.Duration) {
	r.observeAt(r.now(), v, took)
}

func (r *Rates) observeAt(now time.Time, v filters.Verdict, took time.Duration) {
	um := now.Unix() / 60
	lb := len(LatencyBounds)
	secs := took.Seconds()
	for i, b := range LatencyBounds {
		if secs <= b {
			lb = i
			break
		}
	}
	wb := v.WouldBe
	if wb == "" {
		wb = v.Action
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := &r.minutes[um%minutesKept]
	if m.start != um {
		*m = minute{start: um, symbols: m.symbols}
		clear(m.symbols)
	}
	m.n++
	m.actions[actionIndex(v.Action)]++
	m.wouldBe[actionIndex(wb)]++
	m.latency[lb]++
	if m.symbols == nil {
		m.symbols = map[string]int64{}
	}
	for _, s := range v.Symbols {
		m.symbols[s.Name]++
	}
}

// Point is one step of a chart: verdicts by action and by would-be action.
type Point struct {
	Time    time.Time        `json:"time"`
	Total   int64            `json:"total"`
	Actions map[string]int64 `json:"actions"`
	WouldBe map[string]int64 `json:"would_be"`
}

// SymbolCount is how many verdicts carried a symbol.
type SymbolCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Latency are verdict latency percentiles in seconds, read from the
// buckets (LatencyBounds) by linear interpolation; Over10s counts verdicts
// slower than the last bound.
type Latency struct {
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Over10s int64   `json:"over_10s"`
}

// Overview is this node's verdicts over a window: the overview page and
// GET /api/stats.
type Overview struct {
	Window string `json:"window"`
	// Step is the seconds each point covers.
	Step   int     `json:"step"`
	Points []Point `json:"points"`
	Total  int64   `json:"total"`
	// PerMinute is Total over the window's minutes.
	PerMinute  float64          `json:"per_minute"`
	Actions    map[string]int64 `json:"actions"`
	WouldBe    map[string]int64 `json:"would_be"`
	Latency    Latency          `json:"latency"`
	TopSymbols []SymbolCount    `json:"top_symbols"`
}

// Windows are the overview's windows: the last hour by minute, the last
// day by quarter hour.
var Windows = map[string]struct{ Minutes, Step int }{
	"hour": {60, 1},
	"day":  {24 * 60, 15},
}

// Overview summarises the window ("hour" or "day"; anything else is the
// hour) ending now; topN symbols are listed.
func (r *Rates) Overview(window string, topN int) Overview {
	return r.overviewAt(r.now(), window, topN)
}

func (r *Rates) overviewAt(now time.Time, window string, topN int) Overview {
	w, ok := Windows[window]
	if !ok {
		window, w = "hour", Windows["hour"]
	}
	end := now.Unix() / 60 // the current minute, included
	first := end - int64(w.Minutes) + 1
	first -= ((first % int64(w.Step)) + int64(w.Step)) % int64(w.Step) // align steps to the clock
	o := Overview{Window: window, Step: w.Step * 60, Actions: zeroActions(), WouldBe: zeroActions(), TopSymbols: []SymbolCount{}}
	var lat [14]int64
	syms := map[string]int64{}
	r.mu.Lock()
	for start := first; start <= end; start += int64(w.Step) {
		p := Point{Time: time.Unix(start*60, 0).UTC(), Actions: zeroActions(), WouldBe: zeroActions()}
		for um := start; um < start+int64(w.Step) && um <= end; um++ {
			if end-um >= minutesKept {
				continue
			}
			m := &r.minutes[um%minutesKept]
			if m.start != um {
				continue
			}
			p.Total += m.n
			for i, a := range Actions {
				p.Actions[string(a)] += m.actions[i]
				p.WouldBe[string(a)] += m.wouldBe[i]
			}
			for i, n := range m.latency {
				lat[i] += n
			}
			for s, n := range m.symbols {
				syms[s] += n
			}
		}
		o.Total += p.Total
		for k, n := range p.Actions {
			o.Actions[k] += n
		}
		for k, n := range p.WouldBe {
			o.WouldBe[k] += n
		}
		o.Points = append(o.Points, p)
	}
	r.mu.Unlock()
	o.PerMinute = float64(o.Total) / float64(w.Minutes)
	o.Latency = percentiles(lat)
	for s, n := range syms {
		o.TopSymbols = append(o.TopSymbols, SymbolCount{s, n})
	}
	sort.Slice(o.TopSymbols, func(i, j int) bool {
		a, b := o.TopSymbols[i], o.TopSymbols[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		return a.Name < b.Name
	})
	if len(o.TopSymbols) > topN {
		o.TopSymbols = o.TopSymbols[:topN]
	}
	return o
}

func zeroActions() map[string]int64 {
	m := make(map[string]int64, len(Actions))
	for _, a := range Actions {
		m[string(a)] = 0
	}
	return m
}

func percentiles(b [14]int64) Latency {
	var total int64
	for _, n := range b {
		total += n
	}
	l := Latency{Over10s: b[len(LatencyBounds)]}
	if total == 0 {
		return l
	}
	at := func(q float64) float64 {
		rank := q * float64(total)
		var cum int64
		for i, n := range b {
			if n == 0 {
				continue
			}
			if float64(cum+n) >= rank {
				if i == len(LatencyBounds) {
					return LatencyBounds[i-1]
				}
				lo := 0.0
				if i > 0 {
					lo = LatencyBounds[i-1]
				}
				frac := (rank - float64(cum)) / float64(n)
				return lo + frac*(LatencyBounds[i]-lo)
			}
			cum += n
		}
		return LatencyBounds[len(LatencyBounds)-1]
	}
	l.P50, l.P90, l.P99 = at(0.5), at(0.9), at(0.99)
	return l
}
