// Package eval replays labelled mail through the engine and reports what
// Vigil would have done with it: the confusion matrix, the best thresholds
// at fixed false-positive rates, which symbols fired on which class, and
// every misjudged message. It is `vigil eval`, the tool to run on one's own
// labelled mail before trusting Vigil with it.
//
// Two protocols. Static: the learn sets are learned as user reports, then
// the test sets are judged and nothing more is learned. Online: the test
// messages are judged in Date order and, after each verdict, learned with
// their label when the feedback rule says the user would have reported
// them (every misjudged message, every message, or a fixed share).
//
// A run is deterministic: messages are taken in Date order (ties by the
// order of their sources), the share of reported messages is chosen by a
// hash of each message, and nothing depends on timing, provided the engine
// gets the same DNS answers (run it against a local resolver).
package eval

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/mail"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/weights"
)

// Engine is what eval needs of the engine (filters/engine.Engine).
type Engine interface {
	JudgeSaved(ctx context.Context, r io.Reader) (*filters.Message, filters.Verdict, error)
	LearnRaw(ctx context.Context, raw []byte, class store.Class) (engine.LearnOutcome, error)
	PrepareReport(ctx context.Context, r io.Reader, class store.Class) (*engine.Report, error)
	LearnReport(ctx context.Context, rep *engine.Report) (engine.LearnOutcome, error)
	Weights(ctx context.Context) (*weights.Snapshot, error)
}

// learnBatch is how many learn-set messages are prepared (parsed, their
// facts found, judged for the weight model) at once, in parallel, before
// they are learned one by one in order. It is fixed, not the number of
// workers, so that a run gives the same numbers on any machine: each
// report's verdict is taken before the reports of its batch are learned.
const learnBatch = 64

// Message is one labelled message.
type Message struct {
	// Source names it: a file, "mbox#N", a Maildir file.
	Source string
	Spam   bool
	Raw    []byte
	// seq is the position of the message in the input, the tie-break of
	// the Date order.
	seq int
	at  time.Time
}

// Mode is the protocol.
type Mode string

const (
	// Static learns the learn sets, then judges the test sets.
	Static Mode = "static"
	// Online judges the test sets in Date order, learning as it goes.
	Online Mode = "online"
)

// ParseMode parses "static" or "online".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Static, Online:
		return m, nil
	}
	return "", fmt.Errorf("eval: mode %q: want static or online", s)
}

// Feedback is the rule that says which judged messages a user reports in
// online mode.
type Feedback struct {
	// ErrorsOnly reports only misjudged messages: spam not caught, ham
	// caught.
	ErrorsOnly bool
	// Share of those reported, in (0, 1], chosen by a hash of the message.
	Share float64
}

// ParseFeedback parses "errors" (every misjudged message, the default),
// "all" (every message), a share P in (0,1] of all messages ("0.1"), or a
// share of the misjudged ones ("errors:0.5").
func ParseFeedback(s string) (Feedback, error) {
	switch s {
	case "", "errors":
		return Feedback{ErrorsOnly: true, Share: 1}, nil
	case "all":
		return Feedback{Share: 1}, nil
	}
	f := Feedback{}
	v := s
	if rest, ok := strings.CutPrefix(s, "errors:"); ok {
		f.ErrorsOnly, v = true, rest
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || !(p > 0 && p <= 1) {
		return Feedback{}, fmt.Errorf("eval: feedback %q: want errors, all, a share in (0,1] or errors:<share>", s)
	}
	f.Share = p
	return f, nil
}

func (f Feedback) String() string {
	switch {
	case f.ErrorsOnly && f.Share == 1:
		return "errors"
	case f.ErrorsOnly:
		return "errors:" + strconv.FormatFloat(f.Share, 'g', -1, 64)
	case f.Share == 1:
		return "all"
	}
	return strconv.FormatFloat(f.Share, 'g', -1, 64)
}

// reports says whether the user reports a message judged right or wrong.
func (f Feedback) reports(m *Message, wrong bool) bool {
	if f.ErrorsOnly && !wrong {
		return false
	}
	if f.Share >= 1 {
		return true
	}
	// A hash of the content: the same message is chosen whatever else is
	// in the run and in whatever order.
	sum := sha256.Sum256(m.Raw)
	u := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	return u < f.Share
}

// Options are the run's settings.
type Options struct {
	Mode     Mode
	Feedback Feedback
	// Warmup is the number of judged messages after which the
	// after_warmup figures start (online mode). Default 200.
	Warmup int
	// Window is the number of judged messages per point of the curve
	// (online mode). Default 200.
	Window int
	// Workers judge in parallel in static mode. Default GOMAXPROCS.
	Workers int
	// Progress, when set, is called as messages are done.
	Progress func(done, total int)
}

// Run learns learn, judges test, and reports.
func Run(ctx context.Context, e Engine, learn, test []Message, o Options) (*Result, error) {
	if o.Mode == "" {
		o.Mode = Static
	}
	if o.Feedback.Share == 0 {
		o.Feedback = Feedback{ErrorsOnly: true, Share: 1}
	}
	if o.Warmup <= 0 {
		o.Warmup = 200
	}
	if o.Window <= 0 {
		o.Window = 200
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	learn, test = ordered(learn), ordered(test)
	r := &Result{Mode: string(o.Mode)}
	if o.Mode == Online {
		r.Feedback = o.Feedback.String()
	}
	total := len(learn) + len(test)
	done := 0
	progress := func() {
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	if err := learnAll(ctx, e, learn, o.Workers, r, progress); err != nil {
		return nil, err
	}
	judged := make([]judgement, len(test))
	if o.Mode == Static {
		if err := judgeAll(ctx, e, test, judged, o.Workers, progress); err != nil {
			return nil, err
		}
	} else {
		for i := range test {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			m := &test[i]
			judged[i] = judge(ctx, e, m)
			j := &judged[i]
			if j.err == "" && o.Feedback.reports(m, j.caught != m.Spam) {
				if _, err := e.LearnRaw(ctx, m.Raw, class(m.Spam)); err == nil {
					j.reported = true
				}
			}
			progress()
		}
	}
	r.tally(test, judged, o)
	if snap, err := e.Weights(ctx); err == nil && snap != nil {
		rep := snap.Reports()
		r.Weights = &WeightsOut{Reports: ClassCount{Spam: int(math.Round(rep.Spam)), Ham: int(math.Round(rep.Ham))},
			Blend: snap.Blend(), Symbols: snap.Rows()}
	}
	return r, nil
}

func class(spam bool) store.Class {
	if spam {
		return store.Spam
	}
	return store.Ham
}

func label(spam bool) string { return string(class(spam)) }

// judgement is what the engine said about one test message.
type judgement struct {
	v        filters.Verdict
	caught   bool
	forced   bool // caught whatever the threshold (a forced action)
	held     bool // tempfailed: never caught, whatever the score
	err      string
	reported bool
}

func judge(ctx context.Context, e Engine, m *Message) judgement {
	_, v, err := e.JudgeSaved(ctx, bytes.NewReader(m.Raw))
	if err != nil {
		return judgement{err: err.Error()}
	}
	j := judgement{v: v, caught: Caught(v), held: v.WouldBe == filters.TempFail}
	for _, s := range v.Symbols {
		switch s.Force {
		case filters.Tag, filters.Quarantine, filters.Reject:
			j.forced = true
		}
	}
	return j
}

// Caught says whether a verdict stops or marks the message: the action
// (the would-be action under dry run) is tag, quarantine or reject.
func Caught(v filters.Verdict) bool {
	switch v.WouldBe {
	case filters.Tag, filters.Quarantine, filters.Reject:
		return true
	}
	return false
}

// learnAll learns the learn sets as reports, in order, batch by batch.
func learnAll(ctx context.Context, e Engine, learn []Message, workers int, r *Result, progress func()) error {
	for start := 0; start < len(learn); start += learnBatch {
		batch := learn[start:min(start+learnBatch, len(learn))]
		reps := make([]*engine.Report, len(batch))
		errs := make([]error, len(batch))
		jobs := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					reps[i], errs[i] = safePrepare(ctx, e, &batch[i])
				}
			}()
		}
		for i := range batch {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		for i := range batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			m := &batch[i]
			err := errs[i]
			if err == nil {
				_, err = e.LearnReport(ctx, reps[i])
			}
			if err != nil {
				r.Unreadable = append(r.Unreadable, Unreadable{Path: m.Source, Label: label(m.Spam), Error: err.Error()})
			} else {
				r.Learned.add(m.Spam)
			}
			progress()
		}
	}
	return nil
}

func safePrepare(ctx context.Context, e Engine, m *Message) (rep *engine.Report, err error) {
	defer func() {
		if r := recover(); r != nil {
			rep, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return e.PrepareReport(ctx, bytes.NewReader(m.Raw), class(m.Spam))
}

// judgeAll judges in parallel: nothing is learned in between, so the order
// does not matter and each result has its place.
func judgeAll(ctx context.Context, e Engine, test []Message, out []judgement, workers int, progress func()) error {
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				out[i] = safeJudge(ctx, e, &test[i])
				mu.Lock()
				progress()
				mu.Unlock()
			}
		}()
	}
	var err error
	for i := range test {
		if err = ctx.Err(); err != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return err
}

// safeJudge is judge with a recovered panic: a message that crashes the
// engine is reported as unreadable, the run goes on.
func safeJudge(ctx context.Context, e Engine, m *Message) (j judgement) {
	defer func() {
		if r := recover(); r != nil {
			j = judgement{err: fmt.Sprintf("panic: %v", r)}
		}
	}()
	return judge(ctx, e, m)
}

// Ordered returns the messages in the order a run takes them: by Date
// (else the time of the topmost Received field), ties by input order.
func Ordered(ms []Message) []Message { return ordered(ms) }

// ordered sorts messages by Date, ties by their order in the input.
func ordered(ms []Message) []Message {
	out := make([]Message, len(ms))
	copy(out, ms)
	for i := range out {
		out[i].seq = i
		out[i].at = dateOf(out[i].Raw)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].at.Equal(out[j].at) {
			return out[i].at.Before(out[j].at)
		}
		return out[i].seq < out[j].seq
	})
	return out
}

// dateOf is the time a message was written: its Date field, else the time
// of its topmost Received field, else the zero time (first).
func dateOf(raw []byte) time.Time {
	br := bufio.NewReader(io.LimitReader(bytes.NewReader(raw), 256<<10))
	if head, _ := br.Peek(5); string(head) == "From " {
		br.ReadString('\n') // an mbox From_ line
	}
	msg, err := mail.ReadMessage(br)
	if err != nil {
		return time.Time{}
	}
	if t, err := mail.ParseDate(msg.Header.Get("Date")); err == nil {
		return t.UTC()
	}
	if rv := msg.Header.Get("Received"); rv != "" {
		if i := strings.LastIndexByte(rv, ';'); i >= 0 {
			if t, err := mail.ParseDate(strings.TrimSpace(rv[i+1:])); err == nil {
				return t.UTC()
			}
		}
	}
	return time.Time{}
}
