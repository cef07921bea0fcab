package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
)

// Query selects entries. Every field set must match: From, Rcpt, Client,
// QueueID and Symbol are case-insensitive substrings of the envelope
// sender, any recipient, the client address, the queue id and any symbol
// name; Action matches the action or the would-be action.
type Query struct {
	From, Rcpt, Client, QueueID, Symbol, Action string
	// Before: only entries with a smaller ID (the next page); 0 from the
	// newest.
	Before uint64
	// Limit is the most entries returned (default 50, at most MaxLimit).
	Limit int
}

// MaxLimit is the most entries one query returns.
const MaxLimit = 1000

// DefaultLimit is the number of entries a query without limit returns.
const DefaultLimit = 50

// pageSize is how many entries a search reads from the store at once.
const pageSize = 500

// Result is one page of a search.
type Result struct {
	Entries []Entry `json:"entries"`
	// Next is the Before of the next page, 0 when the history was read to
	// its end.
	Next uint64 `json:"next,omitempty"`
	// Scanned is how many entries were read to find these.
	Scanned int `json:"scanned"`
}

// ErrNotFound is returned for an entry that is not, or no longer, kept.
var ErrNotFound = errors.New("history: no such entry (it may have been dropped: history keeps history.size entries)")

func (q Query) limit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

// needles are the lower-cased strings a raw summary must contain for the
// entry to possibly match: a cheap test before decoding it.
func (q Query) needles() [][]byte {
	var out [][]byte
	for _, s := range []string{q.From, q.Rcpt, q.Client, q.QueueID, q.Symbol, q.Action} {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, []byte(s))
		}
	}
	return out
}

// Match reports whether e matches q.
func (q Query) Match(e *Entry) bool {
	has := func(field, needle string) bool {
		needle = strings.TrimSpace(needle)
		return needle == "" || strings.Contains(strings.ToLower(field), strings.ToLower(needle))
	}
	if !has(e.From, q.From) || !has(e.Client, q.Client) || !has(e.QueueID, q.QueueID) {
		return false
	}
	if a := strings.ToLower(strings.TrimSpace(q.Action)); a != "" && string(e.Action) != a && string(e.WouldBe) != a {
		return false
	}
	if q.Rcpt != "" {
		ok := false
		for _, r := range e.Rcpts {
			if has(r, q.Rcpt) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if q.Symbol != "" {
		ok := false
		for _, s := range e.Symbols {
			if has(s.Name, q.Symbol) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Search returns the newest entries matching q, reading at most maxScan
// entries (the whole history when maxScan is history.size).
func Search(ctx context.Context, st store.HistoryStore, q Query, maxScan int) (Result, error) {
	res := Result{Entries: []Entry{}}
	want := q.limit()
	needles := q.needles()
	before := q.Before
	for res.Scanned < maxScan {
		n := min(pageSize, maxScan-res.Scanned)
		page, err := st.HistoryPage(ctx, before, n)
		if err != nil {
			return res, fmt.Errorf("history: %w", err)
		}
		for _, r := range page {
			res.Scanned++
			before = r.ID
			if !containsAll(r.Summary, needles) {
				continue
			}
			e, err := decodeEntry(r)
			if err != nil || !q.Match(&e) {
				continue
			}
			res.Entries = append(res.Entries, e)
			if len(res.Entries) == want {
				if r.ID > 1 {
					res.Next = r.ID
				}
				return res, nil
			}
		}
		if len(page) < n {
			return res, nil
		}
	}
	// Stopped at maxScan: older entries may match.
	if before > 1 {
		res.Next = before
	}
	return res, nil
}

// containsAll: the raw JSON holds every needle, lower-cased. JSON escapes
// only quotes, backslashes and control characters, which no needle of a
// useful search holds; an entry this keeps is then matched exactly.
func containsAll(raw []byte, needles [][]byte) bool {
	if len(needles) == 0 {
		return true
	}
	low := bytes.ToLower(raw)
	for _, n := range needles {
		if !bytes.Contains(low, n) {
			return false
		}
	}
	return true
}

func decodeEntry(r store.HistoryRecord) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(r.Summary, &e); err != nil {
		return e, fmt.Errorf("history: entry %d: %w", r.ID, err)
	}
	e.ID = r.ID
	e.Learned = r.Learned
	if e.Rcpts == nil {
		e.Rcpts = []string{}
	}
	if e.Symbols == nil {
		e.Symbols = []Symbol{}
	}
	return e, nil
}

// Load returns one entry with its detail.
func Load(ctx context.Context, st store.HistoryStore, id uint64) (Detail, error) {
	r, ok, err := st.HistoryEntry(ctx, id)
	if err != nil {
		return Detail{}, fmt.Errorf("history: %w", err)
	}
	if !ok {
		return Detail{}, ErrNotFound
	}
	e, err := decodeEntry(r)
	if err != nil {
		return Detail{}, err
	}
	var dr detailRecord
	if len(r.Detail) > 0 {
		if err := json.Unmarshal(r.Detail, &dr); err != nil {
			return Detail{}, fmt.Errorf("history: entry %d detail: %w", id, err)
		}
	}
	d := Detail{
		Entry: e, Reason: dr.Reason, Helo: dr.Helo, ClientName: dr.ClientName, MessageID: dr.MessageID,
		Size: dr.Size, Seconds: dr.Seconds, Auth: dr.Auth, URLs: dr.URLs, Images: dr.Images, Links: dr.Links,
		Infra: dr.Infra, LearnKeys: make([]string, 0, len(dr.Keys)),
	}
	for _, k := range dr.Keys {
		d.LearnKeys = append(d.LearnKeys, k.Kind+":"+k.Value)
	}
	if d.URLs == nil {
		d.URLs = []filters.URL{}
	}
	if d.Images == nil {
		d.Images = []filters.Image{}
	}
	// As `vigil check --json` writes them: no result is "none".
	r0 := filters.NewReport(&filters.Message{Facts: filters.Facts{Auth: d.Auth}}, filters.Verdict{})
	d.Auth = r0.Auth
	return d, nil
}

// Learnable is what feedback on an entry teaches: the message digest and
// its reputation keys, as they were when the message was judged.
type Learnable struct {
	Digest string
	Keys   []store.Key
}

// LoadLearnable reads what learning entry id needs.
func LoadLearnable(ctx context.Context, st store.HistoryStore, id uint64) (Learnable, error) {
	r, ok, err := st.HistoryEntry(ctx, id)
	if err != nil {
		return Learnable{}, fmt.Errorf("history: %w", err)
	}
	if !ok {
		return Learnable{}, ErrNotFound
	}
	if r.Digest == "" {
		return Learnable{}, fmt.Errorf("history: entry %d has no message digest: it cannot be learned", id)
	}
	var dr detailRecord
	if err := json.Unmarshal(r.Detail, &dr); err != nil {
		return Learnable{}, fmt.Errorf("history: entry %d detail: %w", id, err)
	}
	l := Learnable{Digest: r.Digest, Keys: make([]store.Key, 0, len(dr.Keys))}
	for _, k := range dr.Keys {
		if k.Kind == "" {
			continue
		}
		w := k.Weight
		if w == 0 {
			w = 1
		}
		l.Keys = append(l.Keys, store.Key{Kind: store.Kind(k.Kind), Value: k.Value, Weight: w})
	}
	return l, nil
}
