// Package history keeps the last verdicts of the daemon (envelope, action
// and would-be action, score, every symbol with its score and detail) in
// the reputation store, so that with Redis every node's verdicts can be
// searched from any node, and so that feedback given on one of them can be
// learned exactly as the message was judged. It also keeps, in memory, the
// per-minute rates of this node that the dashboard's overview draws.
//
// Recording never holds mail: the entry is built on the message path
// (digest and reputation keys need the message), then queued; a
// background writer appends queued entries in batches, and drops (and
// counts) what does not fit the queue.
package history

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
)

// Config is the `history:` section.
type Config struct {
	// Size is how many verdicts are kept, all nodes of one Redis together.
	// Default 10000; 0 keeps none (history off).
	Size int `yaml:"size"`
	// Node names this node in its entries. Default "": the host name.
	Node string `yaml:"node"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{Size: 10000} }

// Validate reports the first bad value, naming its key.
func (c Config) Validate() error {
	if c.Size < 0 {
		return fmt.Errorf("history.size: %d is negative", c.Size)
	}
	if c.Size > 10_000_000 {
		return fmt.Errorf("history.size: %d is more than 10000000", c.Size)
	}
	if strings.ContainsAny(c.Node, "\r\n") || len(c.Node) > 255 {
		return fmt.Errorf("history.node: %q is not one line of at most 255 bytes", c.Node)
	}
	return nil
}

// NodeName is the node name entries carry: history.node, else the host name.
func (c Config) NodeName() string {
	if c.Node != "" {
		return c.Node
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "vigil"
}

// Entry is one verdict: the object of GET /api/history (docs/api.md).
type Entry struct {
	ID      uint64         `json:"id"`
	Time    time.Time      `json:"time"`
	Node    string         `json:"node"`
	QueueID string         `json:"queue_id"`
	Client  string         `json:"client"`
	From    string         `json:"from"`
	Rcpts   []string       `json:"rcpts"`
	Subject string         `json:"subject"`
	Action  filters.Action `json:"action"`
	// WouldBe is the action before policy.dry_run softened it (equal to
	// Action without dry run).
	WouldBe filters.Action `json:"would_be"`
	Score   float64        `json:"score"`
	Symbols []Symbol       `json:"symbols"`
	// Learned is the class feedback gave this message, "" when none.
	Learned store.Class `json:"learned,omitempty"`
}

// Symbol is one symbol of an entry; detail is always present.
type Symbol struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail"`
}

// Detail is what one entry's page shows beyond the Entry: why (the
// authentication results, the links and where they led, the nameservers
// behind them) and what feedback on it will teach.
type Detail struct {
	Entry
	Reason     string              `json:"reason,omitempty"`
	Helo       string              `json:"helo"`
	ClientName string              `json:"client_name"`
	MessageID  string              `json:"message_id"`
	Size       int64               `json:"size"`
	Seconds    float64             `json:"seconds"`
	Auth       filters.AuthResults `json:"auth"`
	URLs       []filters.URL       `json:"urls"`
	Images     []filters.Image     `json:"images"`
	Links      []filters.LinkChain `json:"links,omitempty"`
	Infra      filters.Infra       `json:"infra"`
	// LearnKeys are the reputation keys feedback on this entry teaches.
	LearnKeys []string `json:"learn_keys"`
}

// detailRecord is what is stored as a record's Detail: Detail without the
// Entry (stored as the Summary) and with the learning weights.
type detailRecord struct {
	Reason     string              `json:"reason,omitempty"`
	Helo       string              `json:"helo,omitempty"`
	ClientName string              `json:"client_name,omitempty"`
	MessageID  string              `json:"message_id,omitempty"`
	Size       int64               `json:"size,omitempty"`
	Seconds    float64             `json:"seconds,omitempty"`
	Auth       filters.AuthResults `json:"auth"`
	URLs       []filters.URL       `json:"urls,omitempty"`
	Images     []filters.Image     `json:"images,omitempty"`
	Links      []filters.LinkChain `json:"links,omitempty"`
	Infra      filters.Infra       `json:"infra,omitzero"`
	Keys       []learnKey          `json:"keys,omitempty"`
}

// learnKey is a reputation key with its weight (1 when omitted).
type learnKey struct {
	Kind   string  `json:"k"`
	Value  string  `json:"v"`
	Weight float64 `json:"w,omitempty"`
}

// Caps on what one entry keeps: a message stuffed with links or symbols
// must not make its entry large (every page read carries the summaries).
const (
	maxDetailBytes = 1000 // one symbol's detail
	maxSubject     = 200
	maxRcpts       = 50
	maxURLs        = 100
	maxImages      = 50
	maxLinks       = 20
)

// queueSize bounds the entries waiting to be written; beyond it entries
// are dropped (and counted) rather than holding mail or memory.
const queueSize = 4096

// Batching: an append per batchSize entries or per flushEvery, whichever
// comes first (with bbolt, one fsync per append).
const (
	batchSize  = 1024
	flushEvery = 250 * time.Millisecond
)

// Counters are the recorder's counts, for metrics.
type Counters struct {
	Written atomic.Int64 // entries appended to the store
	Dropped atomic.Int64 // entries not kept: queue full or history off
	Errors  atomic.Int64 // failed appends (their entries are lost)
}

// pending is an entry waiting to be written, already encoded: a queue of
// byte slices costs the garbage collector nothing to scan, where the
// entries themselves would keep each message's facts reachable.
type pending struct {
	digest          string
	summary, detail []byte
}

// Recorder records verdicts. It is made once per process: a reload changes
// its configuration (SetConfig), not the recorder.
type Recorder struct {
	st    store.HistoryStore
	log   *slog.Logger
	cfg   atomic.Pointer[Config]
	node  atomic.Pointer[string]
	queue chan pending

	Counters Counters

	startOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
	flushReq  chan chan struct{}
	// errWarn rate-limits the log line of failing appends.
	errWarn atomic.Int64
}

// NewRecorder returns a recorder writing to st; call Start, and Close at
// the end.
func NewRecorder(st store.HistoryStore, cfg Config, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.Default()
	}
	r := &Recorder{st: st, log: log, queue: make(chan pending, queueSize), stop: make(chan struct{}), done: make(chan struct{}), flushReq: make(chan chan struct{})}
	r.SetConfig(cfg)
	return r
}

// SetConfig applies a reloaded configuration to what is recorded next.
func (r *Recorder) SetConfig(cfg Config) {
	node := cfg.NodeName()
	r.cfg.Store(&cfg)
	r.node.Store(&node)
}

// Config is the configuration in force.
func (r *Recorder) Config() Config { return *r.cfg.Load() }

// Store is where the history is kept.
func (r *Recorder) Store() store.HistoryStore { return r.st }

// Start starts the background writer.
func (r *Recorder) Start() {
	r.startOnce.Do(func() { go r.loop() })
}

// Close writes what is queued (within ctx) and stops the writer.
func (r *Recorder) Close(ctx context.Context) {
	r.Start()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	select {
	case <-r.done:
	case <-ctx.Done():
	}
}

// Observe records one verdict. It runs on the message path: it computes
// what needs the message (the content digest and the reputation keys, so
// that feedback on the entry learns exactly what was judged), encodes the
// entry and queues it.
func (r *Recorder) Observe(m *filters.Message, v filters.Verdict, took time.Duration) {
	cfg := r.cfg.Load()
	if cfg.Size <= 0 {
		return
	}
	e := NewEntry(m, v, *r.node.Load(), time.Now())
	d := newDetail(m, v, took)
	var p pending
	var err error
	if p.detail, err = marshalDetail(&d); err != nil {
		r.Counters.Errors.Add(1)
		return
	}
	p.summary = appendSummary(make([]byte, 0, 256+len(p.detail)/4), &e)
	if dg, err := feedback.Digest(m); err == nil {
		p.digest = dg
	}
	select {
	case r.queue <- p:
	default:
		r.Counters.Dropped.Add(1)
	}
}

// NewEntry is the entry of one verdict (without ID).
func NewEntry(m *filters.Message, v filters.Verdict, node string, now time.Time) Entry {
	e := Entry{
		Time:    now.UTC(),
		Node:    node,
		QueueID: m.Envelope.QueueID,
		From:    m.Envelope.MailFrom,
		Rcpts:   m.Envelope.Rcpts,
		Subject: clip(strings.Join(strings.Fields(m.Header("Subject")), " "), maxSubject),
		Action:  v.Action,
		WouldBe: v.WouldBe,
		Score:   v.Score,
		Symbols: make([]Symbol, len(v.Symbols)),
	}
	if m.Envelope.ClientIP.IsValid() {
		e.Client = m.Envelope.ClientIP.String()
	}
	if len(e.Rcpts) > maxRcpts {
		e.Rcpts = e.Rcpts[:maxRcpts]
	}
	if e.Rcpts == nil {
		e.Rcpts = []string{}
	}
	if e.WouldBe == "" {
		e.WouldBe = e.Action
	}
	for i, s := range v.Symbols {
		e.Symbols[i] = Symbol{Name: s.Name, Score: s.Score, Detail: clip(s.Detail, maxDetailBytes)}
	}
	return e
}

func newDetail(m *filters.Message, v filters.Verdict, took time.Duration) detailRecord {
	d := detailRecord{
		Reason:     v.Reason,
		Helo:       m.Envelope.Helo,
		ClientName: m.Envelope.ClientName,
		MessageID:  clip(strings.TrimSpace(m.Header("Message-ID")), maxSubject),
		Size:       m.Size,
		Seconds:    took.Seconds(),
		Auth:       m.Facts.Auth,
		URLs:       capped(m.Facts.Content.URLs, maxURLs),
		Images:     capped(m.Facts.Content.Images, maxImages),
		Links:      capped(m.Facts.Links, maxLinks),
		Infra:      m.Facts.Infra,
	}
	// The keys the reputation check scored; derived here only when it did
	// not run (it runs whenever there is a store, hence a history).
	keys := m.Facts.Reputation
	if keys == nil {
		for _, k := range reputation.Keys(m) {
			keys = append(keys, filters.ReputationKey{Kind: string(k.Kind), Value: k.Value, Weight: k.Weight})
		}
	}
	d.Keys = make([]learnKey, len(keys))
	for i, k := range keys {
		d.Keys[i] = learnKey{Kind: k.Kind, Value: k.Value}
		if k.Weight != 1 {
			d.Keys[i].Weight = k.Weight
		}
	}
	return d
}

func capped[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// Flush writes what was observed before it was called, without waiting
// for the batch to fill or the flush interval to pass (benchmarks end a
// turn with it, tests use it to read what they sent).
func (r *Recorder) Flush(ctx context.Context) {
	r.Start()
	done := make(chan struct{})
	select {
	case r.flushReq <- done:
	case <-r.done:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (r *Recorder) loop() {
	defer close(r.done)
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("history writer panicked; verdicts are no longer recorded", "panic", fmt.Sprint(p))
		}
	}()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	batch := make([]pending, 0, batchSize)
	flush := func() {
		if len(batch) > 0 {
			r.write(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case p := <-r.queue:
			batch = append(batch, p)
			if len(batch) >= batchSize {
				flush()
			}
		case <-t.C:
			flush()
		case done := <-r.flushReq:
			// What was queued before the request is in the queue now.
			for n := len(r.queue); n > 0; n-- {
				batch = append(batch, <-r.queue)
				if len(batch) >= batchSize {
					flush()
				}
			}
			flush()
			close(done)
		case <-r.stop:
			for {
				select {
				case p := <-r.queue:
					batch = append(batch, p)
					if len(batch) >= batchSize {
						flush()
					}
				default:
					flush()
					return
				}
			}
		}
	}
}

// write appends one batch; a failure loses the batch (history is a view
// of what happened, not a queue that must be delivered).
func (r *Recorder) write(batch []pending) {
	recs := make([]store.HistoryRecord, len(batch))
	for i, p := range batch {
		recs[i] = store.HistoryRecord{Digest: p.digest, Summary: p.summary, Detail: p.detail}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.st.AppendHistory(ctx, recs, r.cfg.Load().Size); err != nil {
		r.Counters.Errors.Add(int64(len(recs)))
		now := time.Now().UnixNano()
		if last := r.errWarn.Load(); now-last > int64(time.Minute) && r.errWarn.CompareAndSwap(last, now) {
			r.log.Warn("history: verdicts not recorded", "entries", len(recs), "err", err)
		}
		return
	}
	r.Counters.Written.Add(int64(len(recs)))
}
