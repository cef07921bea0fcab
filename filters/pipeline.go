package filters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"
)

// Check is one source of evidence. It reports symbols and never decides the
// action; it must honour ctx (its deadline is the per-check timeout).
type Check interface {
	Name() string
	Run(ctx context.Context, m *Message) ([]Symbol, error)
}

// StageID names a pipeline stage. Stages run in order; the checks of one
// stage run in parallel and may read the Facts written by earlier stages.
// Which check runs in which stage is written once, in filters/engine.
type StageID int

const (
	// StageAuth: checks that need only the message and the sender's own
	// DNS records.
	StageAuth StageID = iota
	// StageLinks: checks that need the extracted content; what they find
	// counts as linked for the stages after it.
	StageLinks
	// StagePolicy: checks that need the authentication results and
	// everything the message links to.
	StagePolicy
	// StageReputation: checks that need every identity, domain and
	// nameserver found so far.
	StageReputation
	numStages
)

func (s StageID) String() string {
	switch s {
	case StageAuth:
		return "auth"
	case StageLinks:
		return "links"
	case StagePolicy:
		return "policy"
	case StageReputation:
		return "reputation"
	}
	return fmt.Sprintf("stage%d", int(s))
}

// ErrorMode says what a failing check does to the verdict.
type ErrorMode int

const (
	// FailOpen: the check's error symbol carries no force; the message is
	// judged on the rest of the evidence.
	FailOpen ErrorMode = iota
	// FailClosed: the error symbol forces tempfail so the sender retries.
	FailClosed
)

// Pipeline runs checks in stages with deadlines and merges their symbols
// deterministically.
type Pipeline struct {
	stages [numStages][]Check
	modes  map[string]ErrorMode
	// CheckTimeout bounds each check; MessageTimeout bounds the whole run.
	CheckTimeout   time.Duration
	MessageTimeout time.Duration
	Log            *slog.Logger

	// Panics counts recovered check panics (exported for metrics).
	Panics atomic.Int64
	// Abandoned counts checks that did not return before their deadline.
	Abandoned atomic.Int64

	// Observe, when set, is told how long each check ran and how it ended
	// (the engine's metrics). It must be safe for concurrent use.
	Observe func(check string, took time.Duration, outcome CheckOutcome)
}

// NewPipeline returns an empty pipeline with the given deadlines.
func NewPipeline(checkTimeout, messageTimeout time.Duration, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.Default()
	}
	return &Pipeline{CheckTimeout: checkTimeout, MessageTimeout: messageTimeout, Log: log, modes: map[string]ErrorMode{}}
}

// Add registers c in stage s with the given error mode.
func (p *Pipeline) Add(s StageID, c Check, mode ErrorMode) {
	p.stages[s] = append(p.stages[s], c)
	p.modes[c.Name()] = mode
}

// Checks lists the registered check names by stage (for doctor and logs).
func (p *Pipeline) Checks() map[string][]string {
	out := map[string][]string{}
	for s := StageAuth; s < numStages; s++ {
		for _, c := range p.stages[s] {
			out[s.String()] = append(out[s.String()], c.Name())
		}
	}
	return out
}

type checkResult struct {
	syms     []Symbol
	err      error
	took     time.Duration
	panicked bool
}

// Run runs every stage on m and returns all symbols, sorted by name. It never
// fails: a check error, panic or timeout becomes a <CHECK>_ERROR symbol.
// Each symbol carries the name of the check that reported it (Symbol.Check).
func (p *Pipeline) Run(ctx context.Context, m *Message) []Symbol {
	return p.RunWithout(ctx, m, nil)
}

// RunWithout is Run without the checks named in skip (the checks every
// recipient's settings disable). Later checks see no facts from a
// skipped one, as when it found nothing.
func (p *Pipeline) RunWithout(ctx context.Context, m *Message, skip map[string]bool) []Symbol {
	if p.MessageTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.MessageTimeout)
		defer cancel()
	}
	all := m.takeNotes()
	for s := StageAuth; s < numStages; s++ {
		checks := p.stages[s]
		if len(skip) > 0 {
			checks = withoutSkipped(checks, skip)
		}
		if len(checks) == 0 {
			continue
		}
		m.enterStage(s)
		stageStart := time.Now()
		results := make([]checkResult, len(checks))
		done := make(chan int, len(checks))
		for i, c := range checks {
			checkWorkers.run(func() { p.runOne(ctx, c, m, &results[i], i, done) })
		}
		finished := make([]bool, len(checks))
		late := make([]bool, len(checks))
		pending := len(checks)
		// A check gets its per-check deadline (plus a little grace). One
		// that overstays it is reported as timed out, but the next stage
		// does not start until it has returned: later stages read the
		// facts it may still write. The message deadline bounds that wait;
		// past it the remaining stages are skipped.
		grace := time.NewTimer(p.stageWait())
		graceC := grace.C
		stuck := false
	wait:
		for pending > 0 {
			select {
			case i := <-done:
				finished[i] = true
				pending--
			case <-graceC:
				graceC = nil
				for i := range checks {
					if !finished[i] {
						late[i] = true
					}
				}
			case <-ctx.Done():
				// Give checks that saw the cancellation a moment to return.
				t := time.NewTimer(20 * time.Millisecond)
				for pending > 0 {
					select {
					case i := <-done:
						finished[i] = true
						pending--
						continue
					case <-t.C:
					}
					break
				}
				t.Stop()
				stuck = pending > 0
				break wait
			}
		}
		grace.Stop()
		for i, c := range checks {
			if !finished[i] || late[i] {
				p.Abandoned.Add(1)
				p.Log.Warn("check did not return before its deadline", "check", c.Name(), "queue_id", m.Envelope.QueueID)
				all = append(all, p.errorSymbol(c.Name(), context.DeadlineExceeded))
				p.observe(c.Name(), time.Since(stageStart), CheckTimeout)
				continue
			}
			r := results[i]
			p.observe(c.Name(), r.took, r.outcome())
			for _, sym := range r.syms {
				sym.Check = c.Name()
				all = append(all, sym)
			}
			if r.err != nil && (p.modes[c.Name()] == FailClosed || !errors.Is(r.err, ErrIncomplete)) {
				all = append(all, p.errorSymbol(c.Name(), r.err))
			}
		}
		if stuck {
			// A check is still running and may write facts: running later
			// stages now would race with it. Their checks report the
			// skip instead.
			for rest := s + 1; rest < numStages; rest++ {
				for _, c := range withoutSkipped(p.stages[rest], skip) {
					all = append(all, p.errorSymbol(c.Name(), errSkipped))
					p.observe(c.Name(), 0, CheckSkipped)
				}
			}
			break
		}
	}
	m.enterStage(numStages)
	sortSymbols(all)
	return all
}

// withoutSkipped is checks without those named in skip (a new slice when
// any is left out).
func withoutSkipped(checks []Check, skip map[string]bool) []Check {
	if len(skip) == 0 {
		return checks
	}
	out := make([]Check, 0, len(checks))
	for _, c := range checks {
		if !skip[c.Name()] {
			out = append(out, c)
		}
	}
	return out
}

// ErrIncomplete marks a check error that the check has already reported
// with symbols of its own (<LIST>_UNKNOWN, SPF_TEMPERROR, REP_UNAVAILABLE):
// part of its evidence could not be obtained because a DNS lookup or a
// store read got no answer. A check returns it (wrapped) together with
// those symbols. Failing open it adds nothing to them; failing closed
// (policy.fail_closed) the check's <CHECK>_ERROR symbol forces tempfail,
// so "fail closed on DNS failures" means what it says for every check.
var ErrIncomplete = errors.New("evidence incomplete")

// errSkipped marks checks that did not run because an earlier stage was
// still busy when the message deadline passed.
var errSkipped = errors.New("skipped: message deadline passed while an earlier check was still running")

func (p *Pipeline) stageWait() time.Duration {
	if p.CheckTimeout <= 0 {
		if p.MessageTimeout > 0 {
			return p.MessageTimeout
		}
		return time.Hour
	}
	return p.CheckTimeout + p.CheckTimeout/10 + 5*time.Millisecond
}

func (p *Pipeline) observe(check string, took time.Duration, o CheckOutcome) {
	if p.Observe != nil {
		p.Observe(check, took, o)
	}
}

func (r checkResult) outcome() CheckOutcome {
	switch {
	case r.panicked:
		return CheckPanic
	case r.err == nil:
		return CheckOK
	case errors.Is(r.err, ErrIncomplete):
		return CheckIncomplete
	}
	return CheckError
}

func (p *Pipeline) runOne(ctx context.Context, c Check, m *Message, out *checkResult, i int, done chan<- int) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			p.Panics.Add(1)
			p.Log.Error("check panicked", "check", c.Name(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			out.syms = nil
			out.err = fmt.Errorf("panic: %v", r)
			out.panicked = true
		}
		out.took = time.Since(start)
		done <- i
	}()
	if p.CheckTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.CheckTimeout)
		defer cancel()
	}
	out.syms, out.err = c.Run(ctx, m)
}

func (p *Pipeline) errorSymbol(check string, err error) Symbol {
	detail := err.Error()
	if errors.Is(err, context.DeadlineExceeded) {
		detail = "timeout"
	}
	s := Symbol{Name: ErrorSymbol(check), Detail: detail, Check: check}
	if p.modes[check] == FailClosed {
		s.Force = TempFail
	}
	return s
}

// ErrorSymbol is the symbol a failing check yields: its name upper-cased
// with _ERROR appended ("dnsbl" -> "DNSBL_ERROR").
func ErrorSymbol(check string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(check)) + "_ERROR"
}
