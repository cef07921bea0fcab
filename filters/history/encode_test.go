package history

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
)

var awkward = []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r", "nul \x00 bell \x07 esc \x1b del \x7f",
	"bad utf-8 \xff\xfe end", "truncated \xe2\x82", "line sep \u2028 para \u2029", "<script>&amp;</script>", "日本語 ünïcödé 🙂"}

// TestEncodeMatchesJSON: the hand-written encoding of an entry and of the
// learning keys reads back, with encoding/json, exactly as encoding/json's
// own encoding does.
func TestEncodeMatchesJSON(t *testing.T) {
	for i, s := range awkward {
		e := Entry{Time: time.Date(2026, 11, 28, 10, 0, 0, 123456789, time.UTC), Node: s, QueueID: s, Client: s, From: s,
			Rcpts: []string{s, "b@x"}, Subject: s, Action: filters.Action(s), WouldBe: filters.Reject,
			Score:   []float64{0, -1.5, 16.25, 1e-7, 3e21, 0.1 + 0.2, math.MaxFloat64, -0.0000001}[i%8],
			Symbols: []Symbol{{Name: s, Score: 2.5, Detail: s}, {Name: "X"}}}
		var mine, theirs Entry
		if err := json.Unmarshal(appendSummary(nil, &e), &mine); err != nil {
			t.Fatalf("%q: hand-written summary does not parse: %v\n%s", s, err, appendSummary(nil, &e))
		}
		std, _ := json.Marshal(e)
		if err := json.Unmarshal(std, &theirs); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(mine, theirs) {
			t.Errorf("%q:\nhand:   %+v\nstdlib: %+v", s, mine, theirs)
		}

		d := detailRecord{Reason: s, Auth: filters.AuthResults{SPF: filters.SPFResult{Result: filters.SPFPass, Domain: s}},
			Keys: []learnKey{{Kind: "ip", Value: s}, {Kind: "sender_unauth", Value: s, Weight: 0.25}}}
		b, err := marshalDetail(&d)
		if err != nil {
			t.Fatal(err)
		}
		var got, want detailRecord
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q: detail does not parse: %v\n%s", s, err, b)
		}
		std, _ = json.Marshal(d)
		json.Unmarshal(std, &want)
		if !reflect.DeepEqual(got, want) || len(d.Keys) != 2 {
			t.Errorf("%q detail:\nhand:   %+v\nstdlib: %+v", s, got, want)
		}
	}
	if b, _ := marshalDetail(&detailRecord{}); string(b) != `{"auth":{"spf":{"result":""},"dkim":null,"dmarc":{"result":""},"arc":{"result":""}}}` {
		t.Errorf("an empty detail: %s", b)
	}
}

// FuzzAppendString: any bytes give a JSON string that reads back as
// encoding/json's own encoding of them does.
func FuzzAppendString(f *testing.F) {
	for _, s := range awkward {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var mine, theirs string
		if err := json.Unmarshal(appendString(nil, s), &mine); err != nil {
			t.Fatalf("%q: %v: %s", s, err, appendString(nil, s))
		}
		std, _ := json.Marshal(s)
		json.Unmarshal(std, &theirs)
		if mine != theirs {
			t.Fatalf("%q: %q, encoding/json %q", s, mine, theirs)
		}
	})
}
