package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func openTestMemory(t *testing.T, _ *clock) Store { return NewMemory() }

// TestWeightStores: the weight values are learned per report with the
// idempotence and moves of Learn, apart from the counts, and decay; on
// Redis under one hash tag.
func TestWeightStores(t *testing.T) {
	for name, open := range map[string]storeOpener{"memory": openTestMemory, "bbolt": openTestBolt, "redis": openTestRedis} {
		t.Run(name, func(t *testing.T) { testWeightStore(t, name, open) })
	}
}

func testWeightStore(t *testing.T, name string, open storeOpener) {
	ctx := context.Background()
	clk := &clock{t: time.Unix(1e9, 0)}
	st := open(t, clk)
	ws := st.(WeightStore)
	want := func(what string, vals map[string][2]float64) {
		t.Helper()
		got, err := ws.Weights(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(vals) {
			t.Fatalf("%s: %d values %+v, want %d", what, len(got), got, len(vals))
		}
		for id, v := range vals {
			if c := got[id]; !approx(c.Spam, v[0]) || !approx(c.Ham, v[1]) {
				t.Fatalf("%s: %s = %+v, want spam %v ham %v", what, id, c, v[0], v[1])
			}
		}
	}
	keys := []Key{{Kind: "symbol", Value: "A", Weight: 0.5}, {Kind: "symbol", Value: "B", Weight: 0.25}, {Kind: "model", Value: "reports", Weight: 1}}
	if o, err := ws.LearnWeights(ctx, "d1", Spam, keys); err != nil || o != Learned {
		t.Fatalf("learn: %s %v", o, err)
	}
	want("learned", map[string][2]float64{"symbol:A": {0.5, 0}, "symbol:B": {0.25, 0}, "model:reports": {1, 0}})
	if o, _ := ws.LearnWeights(ctx, "d1", Spam, keys[:1]); o != Duplicate {
		t.Fatalf("again: %s", o)
	}
	class, contrib, ok, err := ws.WeightReport(ctx, "d1")
	if err != nil || !ok || class != Spam || len(contrib) != 3 {
		t.Fatalf("report: %s %+v %v %v", class, contrib, ok, err)
	}
	if _, _, ok, _ := ws.WeightReport(ctx, "nothing"); ok {
		t.Fatal("a report that was never learned")
	}
	// Weights are apart from the counts of the same ids.
	if c, _ := st.Counts(ctx, []string{"symbol:A"}); c[0].Total() != 0 {
		t.Fatalf("weight leaked into counts: %+v", c)
	}
	if o, err := ws.LearnWeights(ctx, "d1", Ham, []Key{{Kind: "symbol", Value: "A", Weight: 0.1}, {Kind: "model", Value: "reports", Weight: 1}}); err != nil || o != Moved {
		t.Fatalf("move: %s %v", o, err)
	}
	want("moved", map[string][2]float64{"symbol:A": {0, 0.1}, "model:reports": {0, 1}})
	if name != "memory" {
		clk.advance(testHalfLife)
		want("decayed", map[string][2]float64{"symbol:A": {0, 0.05}, "model:reports": {0, 0.5}})
		_, contrib, _, _ = ws.WeightReport(ctx, "d1")
		for _, d := range contrib {
			if d.ID == "symbol:A" && !approx(d.Ham, 0.05) {
				t.Fatalf("contribution not decayed: %+v", contrib)
			}
		}
	}
	if rs, ok := st.(*RedisStore); ok && rs.cluster == nil {
		// Every weight key is in the slot of the {weights} tag (on a
		// cluster the learn script itself proves it: a script over keys
		// of two slots fails with CROSSSLOT).
		keys, err := rs.rdb.Keys(ctx, rs.prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		// A cluster puts a key in the slot of its hash tag (the text
		// between the first { and the next }), so one tag is one slot.
		tags := map[string]bool{}
		for _, k := range keys {
			tags[hashTag(k)] = true
		}
		if len(keys) != 2 || len(tags) != 1 || !tags["weights"] {
			t.Fatalf("weight keys %v have hash tags %v, want 2 keys tagged {weights}", keys, tags)
		}
	}
	// Many reports, one call to read them all.
	for i := 0; i < 50; i++ {
		if _, err := ws.LearnWeights(ctx, fmt.Sprintf("m%d", i), Spam, []Key{{Kind: "symbol", Value: fmt.Sprintf("S%d", i%7), Weight: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ws.Weights(ctx)
	if err != nil || len(got) != 2+7 {
		t.Fatalf("after 50 reports: %d values, %v", len(got), err)
	}
}

// hashTag is the part of a Redis key that decides its cluster slot.
func hashTag(k string) string {
	for i := 0; i < len(k); i++ {
		if k[i] == '{' {
			for j := i + 1; j < len(k); j++ {
				if k[j] == '}' && j > i+1 {
					return k[i+1 : j]
				}
			}
			break
		}
	}
	return k
}
