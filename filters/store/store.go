// Package store keeps Vigil's feedback-learned evidence: decayed spam and
// ham counts per key ("kind:value"), the record of every learned message
// (so that learning is idempotent and a message can move to the other
// class), and small expiring results next to them. The checks that read
// and write it (reputation, bayes, follow) decide what the keys are.
//
// Counts decay with a configured half-life. A message is learned once per
// digest of its content; learning it again as the same class changes
// nothing, learning it as the other class moves its contribution.
//
// Two backends implement Store: bbolt, embedded in the data directory (one
// fsynced transaction per learned message), and Redis, shared by many nodes
// (atomic Lua scripts, one round trip per read).
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Class is what a user said about a message.
type Class string

const (
	// Spam: the message was unwanted.
	Spam Class = "spam"
	// Ham: the message was wanted.
	Ham Class = "ham"
)

// ParseClass parses "spam" or "ham".
func ParseClass(s string) (Class, error) {
	switch c := Class(s); c {
	case Spam, Ham:
		return c, nil
	}
	return "", fmt.Errorf("reputation: unknown class %q (want spam or ham)", s)
}

// Kind is the namespace of a key: the check that owns the key decides its
// kinds (reputation.KindIP, bayes.KindToken, ...).
type Kind string

// Key is one reputation key of a message with its learning weight.
type Key struct {
	Kind  Kind
	Value string
	// Weight is how much one learned message adds to this key's count
	// (1 for most keys, less for unauthenticated identities).
	Weight float64
}

// ID is the key as stored: "kind:value".
func (k Key) ID() string { return string(k.Kind) + ":" + k.Value }

// In is the key within the reports of scope (a recipient domain, with
// reputation.scope: rcpt_domain): its ID is ScopedID(scope, k.ID()). Its
// Kind carries the scope, so ask the kind of the key In was called on.
// Scope "" is k.
func (k Key) In(scope string) Key {
	if scope != "" {
		k.Kind = Kind(ScopedID(scope, string(k.Kind)))
	}
	return k
}

// ScopedID is the id of a key's counts, or of a learned message's
// record (its digest), within the reports of scope: "@<scope>|<id>"; id
// itself for scope "". The scope is a prefix inside the one key, so a
// scope's counts are keys like any other: each is read and written alone
// (no command spans two keys of different scopes, which a Redis Cluster
// could hold on different nodes), and both backends keep them as they
// keep the shared ones. A scope is a domain name, which holds neither
// "@" nor "|".
func ScopedID(scope, id string) string {
	if scope == "" {
		return id
	}
	return "@" + scope + "|" + id
}

// Counts are the decayed spam and ham evidence of one key.
type Counts struct {
	Spam float64
	Ham  float64
}

// Total is the evidence in both classes.
func (c Counts) Total() float64 { return c.Spam + c.Ham }

// Delta is a change to the counts of one key (negative to take back).
type Delta struct {
	ID   string
	Spam float64
	Ham  float64
}

// Outcome says what learning a message did.
type Outcome string

const (
	// Learned: the message was new; its keys gained counts.
	Learned Outcome = "learned"
	// Duplicate: the message was already learned as this class; nothing changed.
	Duplicate Outcome = "duplicate"
	// Moved: the message was learned as the other class; its earlier
	// contribution was taken back and it now counts for the new class.
	Moved Outcome = "moved"
)

// ErrUnavailable wraps every error of a store that could not be reached or
// did not answer in time.
var ErrUnavailable = errors.New("reputation: store unavailable")

// Store holds decayed spam/ham counts per key and the record of learned
// messages. Every method honours ctx's deadline.
type Store interface {
	// Counts returns the counts of ids in order, decayed to now; an unknown
	// id has zero counts. It is one round trip whatever len(ids).
	Counts(ctx context.Context, ids []string) ([]Counts, error)
	// Add atomically applies deltas (counts never go below zero).
	Add(ctx context.Context, deltas []Delta) error
	// Learn records the message with the given digest as class with keys,
	// idempotently: see Outcome. It returns only once the change is durable
	// (bbolt: fsynced; Redis: acknowledged by the server).
	Learn(ctx context.Context, digest string, class Class, keys []Key) (Outcome, error)
	Close() error
}

// decay is the factor by which evidence of age age has shrunk under
// half-life hl (hl <= 0: no decay).
func decay(age, hl time.Duration) float64 {
	if hl <= 0 || age <= 0 {
		return 1
	}
	return math.Exp2(-age.Seconds() / hl.Seconds())
}

// record is what a store keeps about a learned message: enough to take its
// contribution back when it is relearned as the other class.
type record struct {
	Class Class  `json:"c"`
	Time  int64  `json:"t"` // unix nanoseconds
	Keys  []wkey `json:"k"`
	// Pending: the count changes of this learn are not all applied yet
	// (Redis Cluster learns in steps; see cluster.go). Nil once done.
	Pending *pending `json:"p,omitempty"`
}

type wkey struct {
	ID     string  `json:"id"`
	Weight float64 `json:"w"`
}

// recordWire is a record as stored: its keys grouped by kind and weight,
// each value written once without its kind. A classifier record holds
// hundreds of tokens of one kind and weight, and the record is the
// largest thing kept per learned message (see the README's sizing): the
// groups take 14 bytes per token where {"id":"bayes:…","w":1} took 33.
type recordWire struct {
	Class  Class      `json:"c"`
	Time   int64      `json:"t"`
	Groups []keyGroup `json:"g,omitempty"`
	// Keys is the earlier form, one object per key: read, never written.
	Keys    []wkey   `json:"k,omitempty"`
	Pending *pending `json:"p,omitempty"`
}

type keyGroup struct {
	Kind   string   `json:"k"`
	Weight float64  `json:"w"`
	Values []string `json:"v"`
}

// MarshalJSON writes the grouped form.
func (r record) MarshalJSON() ([]byte, error) {
	w := recordWire{Class: r.Class, Time: r.Time, Pending: r.Pending}
	type kindWeight struct {
		kind   string
		weight float64
	}
	at := map[kindWeight]int{}
	for _, k := range r.Keys {
		kind, value, ok := strings.Cut(k.ID, ":")
		if !ok || kind == "" {
			// No kind: the whole id is the value ("" group).
			kind, value = "", k.ID
		}
		i, seen := at[kindWeight{kind, k.Weight}]
		if !seen {
			i = len(w.Groups)
			at[kindWeight{kind, k.Weight}] = i
			w.Groups = append(w.Groups, keyGroup{Kind: kind, Weight: k.Weight})
		}
		w.Groups[i].Values = append(w.Groups[i].Values, value)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads both forms.
func (r *record) UnmarshalJSON(b []byte) error {
	var w recordWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = record{Class: w.Class, Time: w.Time, Keys: w.Keys, Pending: w.Pending}
	for _, g := range w.Groups {
		for _, v := range g.Values {
			id := v
			if g.Kind != "" {
				id = g.Kind + ":" + v
			}
			r.Keys = append(r.Keys, wkey{ID: id, Weight: g.Weight})
		}
	}
	return nil
}

// learnDeltas computes the count changes of learning keys as class at now,
// given the earlier record (nil when the message is new), sorted by id. It
// reports Duplicate (and no deltas) when old already has class.
func learnDeltas(old *record, class Class, keys []Key, now time.Time, hl time.Duration) ([]Delta, Outcome) {
	ids, ws := dedupKeys(keys)
	out, outcome := deltasOf(old, class, ids, ws, now, hl)
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, outcome
}

// deltasOf is learnDeltas over deduplicated ids and weights, unsorted.
func deltasOf(old *record, class Class, ids []string, ws []float64, now time.Time, hl time.Duration) ([]Delta, Outcome) {
	side := func(d *Delta, c Class, w float64) {
		if c == Spam {
			d.Spam += w
		} else {
			d.Ham += w
		}
	}
	if old == nil {
		out := make([]Delta, len(ids))
		for i, id := range ids {
			out[i].ID = id
			side(&out[i], class, ws[i])
		}
		return out, Learned
	}
	if old.Class == class {
		return nil, Duplicate
	}
	sum := make(map[string]*Delta, len(ids)+len(old.Keys))
	get := func(id string) *Delta {
		d := sum[id]
		if d == nil {
			d = &Delta{ID: id}
			sum[id] = d
		}
		return d
	}
	// The earlier contribution has decayed like everything else since it
	// was learned: take back only what is left of it.
	f := decay(now.Sub(time.Unix(0, old.Time)), hl)
	for _, k := range old.Keys {
		side(get(k.ID), old.Class, -k.Weight*f)
	}
	for i, id := range ids {
		side(get(id), class, ws[i])
	}
	out := make([]Delta, 0, len(sum))
	for _, d := range sum {
		out = append(out, *d)
	}
	return out, Moved
}

func newRecord(class Class, keys []Key, now time.Time) record {
	ids, ws := dedupKeys(keys)
	return recordOf(class, ids, ws, now)
}

func recordOf(class Class, ids []string, ws []float64, now time.Time) record {
	r := record{Class: class, Time: now.UnixNano(), Keys: make([]wkey, len(ids))}
	for i, id := range ids {
		r.Keys[i] = wkey{ID: id, Weight: ws[i]}
	}
	return r
}

// dedupKeys returns the ids and weights of keys, keeping the first
// occurrence of each id.
func dedupKeys(keys []Key) ([]string, []float64) {
	seen := make(map[string]struct{}, len(keys))
	ids := make([]string, 0, len(keys))
	ws := make([]float64, 0, len(keys))
	for _, k := range keys {
		id := k.ID()
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		ids = append(ids, id)
		ws = append(ws, k.Weight)
	}
	return ids, ws
}
