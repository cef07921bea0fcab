package filters

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

type fakeCheck struct {
	name string
	run  func(ctx context.Context, m *Message) ([]Symbol, error)
}

func (f fakeCheck) Name() string { return f.name }
func (f fakeCheck) Run(ctx context.Context, m *Message) ([]Symbol, error) {
	return f.run(ctx, m)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestPipelineStagesAndErrors(t *testing.T) {
	p := NewPipeline(100*time.Millisecond, time.Second, quiet())
	p.Add(StageAuth, fakeCheck{"spf", func(ctx context.Context, m *Message) ([]Symbol, error) {
		m.Facts.Auth.SPF.Result = "pass"
		return []Symbol{{Name: "SPF_PASS", Score: -0.5}}, nil
	}}, FailOpen)
	p.Add(StageAuth, fakeCheck{"broken", func(ctx context.Context, m *Message) ([]Symbol, error) {
		return nil, errors.New("boom")
	}}, FailOpen)
	p.Add(StageAuth, fakeCheck{"panicky", func(ctx context.Context, m *Message) ([]Symbol, error) {
		panic("bad input")
	}}, FailOpen)
	p.Add(StageAuth, fakeCheck{"slow", func(ctx context.Context, m *Message) ([]Symbol, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}, FailClosed)
	p.Add(StageAuth, fakeCheck{"stuck", func(ctx context.Context, m *Message) ([]Symbol, error) {
		time.Sleep(300 * time.Millisecond) // ignores its 100ms deadline
		m.Facts.Auth.ARC.Result = "late write"
		return []Symbol{{Name: "LATE"}}, nil
	}}, FailOpen)
	p.Add(StagePolicy, fakeCheck{"dmarc", func(ctx context.Context, m *Message) ([]Symbol, error) {
		// Reads what stage auth wrote.
		if m.Facts.Auth.SPF.Result != "pass" {
			return nil, errors.New("stage order broken")
		}
		return []Symbol{{Name: "DMARC_PASS"}}, nil
	}}, FailOpen)

	m := &Message{}
	m.Note(Symbol{Name: "MESSAGE_TOO_BIG"})
	syms := p.Run(context.Background(), m)
	got := map[string]Symbol{}
	var names []string
	for _, s := range syms {
		got[s.Name] = s
		names = append(names, s.Name)
	}
	want := []string{"BROKEN_ERROR", "DMARC_PASS", "MESSAGE_TOO_BIG", "PANICKY_ERROR", "SLOW_ERROR", "SPF_PASS", "STUCK_ERROR"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("symbols %v, want %v", names, want)
	}
	if got["SLOW_ERROR"].Force != TempFail || got["SLOW_ERROR"].Detail != "timeout" {
		t.Errorf("fail-closed timeout: %+v", got["SLOW_ERROR"])
	}
	if got["BROKEN_ERROR"].Force != "" || got["BROKEN_ERROR"].Score != 0 {
		t.Errorf("fail-open error must not force or score: %+v", got["BROKEN_ERROR"])
	}
	if p.Panics.Load() != 1 || p.Abandoned.Load() != 1 {
		t.Errorf("panics %d abandoned %d, want 1 and 1", p.Panics.Load(), p.Abandoned.Load())
	}
}

func TestPipelineStuckCheckSkipsLaterStages(t *testing.T) {
	p := NewPipeline(50*time.Millisecond, 200*time.Millisecond, quiet())
	release := make(chan struct{})
	defer close(release)
	p.Add(StageAuth, fakeCheck{"stuck", func(ctx context.Context, m *Message) ([]Symbol, error) {
		<-release // ignores its context entirely
		return nil, nil
	}}, FailOpen)
	ran := false
	p.Add(StagePolicy, fakeCheck{"later", func(ctx context.Context, m *Message) ([]Symbol, error) {
		ran = true
		return nil, nil
	}}, FailOpen)
	syms := p.Run(context.Background(), &Message{})
	if ran {
		t.Fatal("a later stage ran while an earlier check was still running")
	}
	got := map[string]string{}
	for _, s := range syms {
		got[s.Name] = s.Detail
	}
	if got["STUCK_ERROR"] != "timeout" || got["LATER_ERROR"] == "" {
		t.Fatalf("symbols %v", syms)
	}
}

func TestPipelineMessageDeadline(t *testing.T) {
	p := NewPipeline(time.Second, 50*time.Millisecond, quiet())
	p.Add(StageAuth, fakeCheck{"wait", func(ctx context.Context, m *Message) ([]Symbol, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}, FailOpen)
	p.Add(StageReputation, fakeCheck{"later", func(ctx context.Context, m *Message) ([]Symbol, error) {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return []Symbol{{Name: "RAN"}}, nil
	}}, FailOpen)
	start := time.Now()
	syms := p.Run(context.Background(), &Message{})
	if time.Since(start) > 900*time.Millisecond {
		t.Fatalf("message deadline not honoured")
	}
	names := map[string]bool{}
	for _, s := range syms {
		names[s.Name] = true
	}
	if !names["WAIT_ERROR"] || !names["LATER_ERROR"] {
		t.Fatalf("symbols %v: both checks should report the expired deadline", syms)
	}
}

func TestErrorSymbol(t *testing.T) {
	for in, want := range map[string]string{"dnsbl": "DNSBL_ERROR", "follow-links": "FOLLOW_LINKS_ERROR", "a.b": "A_B_ERROR"} {
		if got := ErrorSymbol(in); got != want {
			t.Errorf("ErrorSymbol(%q) = %q, want %q", in, got, want)
		}
	}
}
