package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

func message(i int) *filters.Message {
	m := &filters.Message{
		Envelope: filters.Envelope{
			ClientIP: netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i%250+1)),
			Helo:     "mx.example.org",
			MailFrom: fmt.Sprintf("sender%d@example.org", i),
			Rcpts:    []string{"alice@example.test", fmt.Sprintf("bob%d@example.test", i)},
			QueueID:  fmt.Sprintf("QID%04d", i),
		},
		Headers: []filters.Header{
			{Name: "From", Value: fmt.Sprintf(" Sender <sender%d@example.org>", i)},
			{Name: "Subject", Value: fmt.Sprintf(" offer\r\n number %d", i)},
			{Name: "Message-ID", Value: fmt.Sprintf(" <%d@example.org>", i)},
		},
		Body: filters.BytesBody(fmt.Sprintf("body %d http://link%d.example/x\r\n", i, i)),
	}
	m.Facts.Content.URLs = []filters.URL{{URL: fmt.Sprintf("http://link%d.example/x", i), Host: fmt.Sprintf("link%d.example", i), Domain: fmt.Sprintf("link%d.example", i)}}
	m.Facts.Content.Domains = []string{fmt.Sprintf("link%d.example", i)}
	if i%2 == 1 {
		m.Facts.Auth.SPF = filters.SPFResult{Result: filters.SPFPass, Domain: "example.org"}
	}
	return m
}

func verdict(i int) filters.Verdict {
	v := filters.Verdict{Action: filters.Accept, WouldBe: filters.Accept, Score: float64(i % 10),
		Symbols: []filters.Symbol{{Name: "SPF_PASS", Score: -0.5}, {Name: "TEST_SYMBOL", Score: 1, Detail: strings.Repeat("d", 2000)}}}
	if i%3 == 0 {
		v.Action, v.WouldBe = filters.Tag, filters.Reject
		v.Symbols = append(v.Symbols, filters.Symbol{Name: "SPAMHAUS_ZEN", Score: 3, Detail: "listed"})
	}
	return v
}

func record(t *testing.T, st store.HistoryStore, cfg Config, n int) *Recorder {
	t.Helper()
	r := NewRecorder(st, cfg, nil)
	r.Start()
	for i := 1; i <= n; i++ {
		r.Observe(message(i), verdict(i), time.Duration(i)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.Close(ctx)
	return r
}

func TestRecordSearchLoad(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	r := record(t, st, Config{Size: 100, Node: "node-a"}, 30)
	if got := r.Counters.Written.Load(); got != 30 {
		t.Fatalf("written %d, want 30 (dropped %d, errors %d)", got, r.Counters.Dropped.Load(), r.Counters.Errors.Load())
	}

	res, err := Search(ctx, st, Query{Limit: 5}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 5 || res.Entries[0].QueueID != "QID0030" || res.Entries[4].QueueID != "QID0026" {
		t.Fatalf("newest five = %+v", res.Entries)
	}
	e := res.Entries[0]
	if e.Node != "node-a" || e.Client != "192.0.2.31" || e.From != "sender30@example.org" ||
		!slices.Equal(e.Rcpts, []string{"alice@example.test", "bob30@example.test"}) || e.Subject != "offer number 30" ||
		e.Action != filters.Tag || e.WouldBe != filters.Reject || e.Score != 0 || time.Since(e.Time) > time.Minute {
		t.Fatalf("entry = %+v", e)
	}
	if len(e.Symbols) != 3 || e.Symbols[1].Name != "TEST_SYMBOL" || len(e.Symbols[1].Detail) > maxDetailBytes+len("…") {
		t.Fatalf("symbols = %+v", e.Symbols)
	}
	if res.Next != e.ID-4 {
		t.Fatalf("next = %d, want %d", res.Next, e.ID-4)
	}
	// The contract's field names, and nothing renamed.
	raw, _ := json.Marshal(e)
	for _, f := range []string{`"time":`, `"node":`, `"queue_id":`, `"client":`, `"from":`, `"rcpts":`, `"action":`, `"would_be":`, `"score":`, `{"name":"SPAMHAUS_ZEN","score":3,"detail":"listed"}`, `{"name":"SPF_PASS","score":-0.5,"detail":""}`} {
		if !strings.Contains(string(raw), f) {
			t.Errorf("entry JSON lacks %s: %s", f, raw)
		}
	}

	for _, tc := range []struct {
		name string
		q    Query
		want []string
	}{
		{"sender", Query{From: "SENDER7@"}, []string{"QID0007"}},
		{"recipient", Query{Rcpt: "bob12@"}, []string{"QID0012"}},
		{"client", Query{Client: "192.0.2.29"}, []string{"QID0028"}},
		{"queue id", Query{QueueID: "qid0003"}, []string{"QID0003"}},
		{"symbol", Query{Symbol: "spamhaus", Limit: 3}, []string{"QID0030", "QID0027", "QID0024"}},
		{"would-be action", Query{Action: "reject", Limit: 2}, []string{"QID0030", "QID0027"}},
		{"two fields", Query{Symbol: "SPAMHAUS_ZEN", Rcpt: "bob1"}, []string{"QID0018", "QID0015", "QID0012"}},
		{"nothing", Query{From: "nobody"}, nil},
		{"next page", Query{Before: 29, Limit: 2}, []string{"QID0028", "QID0027"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Search(ctx, st, tc.q, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range res.Entries {
				got = append(got, e.QueueID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}

	// A search reads at most maxScan entries and says where to go on.
	res, err = Search(ctx, st, Query{QueueID: "QID0001"}, 10)
	if err != nil || len(res.Entries) != 0 || res.Scanned != 10 || res.Next != 21 {
		t.Fatalf("bounded search: %+v %v", res, err)
	}

	d, err := Load(ctx, st, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Helo != "mx.example.org" || d.MessageID != "<30@example.org>" || d.Auth.SPF.Result != filters.SPFNone || d.Auth.DKIM == nil ||
		len(d.URLs) != 1 || d.URLs[0].Domain != "link30.example" || d.Seconds != 0.03 {
		t.Fatalf("detail = %+v", d)
	}
	if !slices.Contains(d.LearnKeys, "ip:192.0.2.31") || !slices.Contains(d.LearnKeys, "domain:link30.example") {
		t.Fatalf("learn keys = %v", d.LearnKeys)
	}
	if _, err := Load(ctx, st, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing entry: %v", err)
	}

	l, err := LoadLearnable(ctx, st, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Digest) != 64 || len(l.Keys) != len(d.LearnKeys) {
		t.Fatalf("learnable = %+v", l)
	}
	var unauth bool
	for _, k := range l.Keys {
		if k.Kind == "sender_unauth" && k.Weight < 1 {
			unauth = true
		}
		if k.Weight == 0 {
			t.Fatalf("key %v without weight", k)
		}
	}
	if !unauth {
		t.Fatalf("no weighted unauthenticated sender key in %+v", l.Keys)
	}

	// A mark by digest shows on the entry.
	if err := st.MarkLearned(ctx, l.Digest, store.Spam, 100); err != nil {
		t.Fatal(err)
	}
	if d, _ := Load(ctx, st, e.ID); d.Learned != store.Spam {
		t.Fatalf("learned = %q", d.Learned)
	}
}

func TestRecorderOff(t *testing.T) {
	st := store.NewMemory()
	record(t, st, Config{Size: 0}, 3)
	if page, _ := st.HistoryPage(context.Background(), 0, 10); len(page) != 0 {
		t.Fatalf("size 0 recorded %d entries", len(page))
	}
}

// failingStore fails every append.
type failingStore struct{ store.HistoryStore }

func (failingStore) AppendHistory(context.Context, []store.HistoryRecord, int) error {
	return store.ErrUnavailable
}

func TestRecorderStoreDown(t *testing.T) {
	r := record(t, failingStore{store.NewMemory()}, Config{Size: 10}, 5)
	if r.Counters.Errors.Load() != 5 || r.Counters.Written.Load() != 0 {
		t.Fatalf("errors %d written %d, want 5 and 0", r.Counters.Errors.Load(), r.Counters.Written.Load())
	}
}

// blockingStore holds every append until released.
type blockingStore struct {
	store.HistoryStore
	release chan struct{}
}

func (b blockingStore) AppendHistory(ctx context.Context, recs []store.HistoryRecord, keep int) error {
	<-b.release
	return b.HistoryStore.AppendHistory(ctx, recs, keep)
}

// TestRecorderNeverBlocks: with the store stuck, Observe returns at once
// and what does not fit the queue is dropped and counted.
func TestRecorderNeverBlocks(t *testing.T) {
	bs := blockingStore{store.NewMemory(), make(chan struct{})}
	r := NewRecorder(bs, Config{Size: 100000}, nil)
	r.Start()
	n := queueSize + 2*batchSize + 100
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			r.Observe(message(i), verdict(i), time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Observe blocked while the store was stuck")
	}
	if r.Counters.Dropped.Load() == 0 {
		t.Fatal("nothing dropped although the queue was full")
	}
	close(bs.release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.Close(ctx)
	if got := r.Counters.Written.Load() + r.Counters.Dropped.Load(); got != int64(n) {
		t.Fatalf("written %d + dropped %d = %d, want %d", r.Counters.Written.Load(), r.Counters.Dropped.Load(), got, n)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Size: -1}, "history.size: -1"},
		{Config{Size: 20_000_000}, "history.size: 20000000"},
		{Config{Size: 1, Node: "a\nb"}, "history.node"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil || DefaultConfig().Size != 10000 {
		t.Fatalf("defaults: %+v %v", DefaultConfig(), err)
	}
	if (Config{Node: "mx1"}).NodeName() != "mx1" || (Config{}).NodeName() == "" {
		t.Fatal("node name")
	}
}

func TestRates(t *testing.T) {
	r := NewRates()
	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	// 90 minutes of traffic: minute k has k+1 verdicts, every third would
	// have been rejected; latencies 1..100 ms.
	for k := 0; k < 90; k++ {
		for j := 0; j <= k; j++ {
			v := filters.Verdict{Action: filters.Accept, WouldBe: filters.Accept, Symbols: []filters.Symbol{{Name: "SPF_PASS"}}}
			if j%3 == 0 {
				v.Action, v.WouldBe = filters.Tag, filters.Reject
				v.Symbols = append(v.Symbols, filters.Symbol{Name: "SPAMHAUS_ZEN"})
			}
			r.observeAt(base.Add(time.Duration(k)*time.Minute+time.Second), v, time.Duration(j%100+1)*time.Millisecond)
		}
	}
	now := base.Add(89*time.Minute + 30*time.Second)
	h := r.overviewAt(now, "hour", 1)
	if len(h.Points) != 60 || h.Step != 60 {
		t.Fatalf("hour: %d points of %ds", len(h.Points), h.Step)
	}
	// Minutes 30..89: sum of (k+1).
	var want int64
	for k := 30; k < 90; k++ {
		want += int64(k + 1)
	}
	if h.Total != want || h.Points[59].Total != 90 || h.Points[0].Total != 31 {
		t.Fatalf("hour total %d (want %d), last point %d, first %d", h.Total, want, h.Points[59].Total, h.Points[0].Total)
	}
	if h.Actions["tag"]+h.Actions["accept"] != want || h.WouldBe["reject"] != h.Actions["tag"] || h.Actions["reject"] != 0 {
		t.Fatalf("actions %v would-be %v", h.Actions, h.WouldBe)
	}
	if len(h.TopSymbols) != 1 || h.TopSymbols[0] != (SymbolCount{"SPF_PASS", want}) {
		t.Fatalf("top symbols %v", h.TopSymbols)
	}
	if h.Latency.P50 <= 0.025 || h.Latency.P50 > 0.05 || h.Latency.P99 <= 0.05 || h.Latency.P99 > 0.1 {
		t.Fatalf("latency %+v, want p50 in (25ms, 50ms], p99 in (50ms, 100ms]", h.Latency)
	}
	d := r.overviewAt(now, "day", 10)
	if len(d.Points) < 96 || d.Step != 900 {
		t.Fatalf("day: %d points of %ds", len(d.Points), d.Step)
	}
	if d.Total != 90*91/2 {
		t.Fatalf("day total %d, want %d", d.Total, 90*91/2)
	}
	// A day later the same slots hold nothing of the old traffic.
	if o := r.overviewAt(now.Add(24*time.Hour), "hour", 5); o.Total != 0 {
		t.Fatalf("a day later: %d", o.Total)
	}
	if o := r.overviewAt(now, "week", 5); o.Window != "hour" {
		t.Fatalf("unknown window: %q", o.Window)
	}
}
