package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/store"
)

type learnFunc func(ctx context.Context, r io.Reader, spam bool) (string, error)

func (f learnFunc) Learn(ctx context.Context, r io.Reader, spam bool, _ string) (string, error) {
	return f(ctx, r, spam)
}

func post(t *testing.T, h http.Handler, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/learn/spam", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestLearnStatusTellsWhetherToRetry: a report the store could not take
// gets 503 with Retry-After (a Sieve script or webmail button retries),
// never 400 (which reads as "do not send this again").
func TestLearnStatusTellsWhetherToRetry(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		code  int
		retry string
	}{
		{"store down", fmt.Errorf("%w: connection refused", store.ErrUnavailable), 503, retryUnavailable},
		{"store not durable", fmt.Errorf("%w: %w: appendonly no", store.ErrUnavailable, store.ErrNotDurable), 503, retryUnavailable},
		{"deadline", context.DeadlineExceeded, 503, retryUnavailable},
		{"not a message", fmt.Errorf("%w: no From field", engine.ErrNotMessage), 400, ""},
		{"header too large", fmt.Errorf("%w: header block", engine.ErrTooLarge), 413, ""},
		{"no store", engine.ErrNoStore, 501, ""},
		{"not a recipient domain", fmt.Errorf("%w: %q", engine.ErrBadDomain, "a b"), 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New("a-sixteen-char-token", Limits{MaxBody: 1 << 20, MaxConcurrent: 2}, func() Hooks {
				return Hooks{Learner: learnFunc(func(context.Context, io.Reader, bool) (string, error) { return "", tc.err })}
			}, quietLog())
			rec := post(t, s.Handler(), "a-sixteen-char-token", "From: a@b\r\n\r\nx")
			if rec.Code != tc.code || rec.Header().Get("Retry-After") != tc.retry {
				t.Fatalf("status %d Retry-After %q, want %d %q", rec.Code, rec.Header().Get("Retry-After"), tc.code, tc.retry)
			}
		})
	}
}

// TestTokenChangesOnReload: after SetToken the old token stops working.
// Before, a new admin.token in the file was ignored on SIGHUP and the old
// one kept working.
func TestTokenChangesOnReload(t *testing.T) {
	ok := learnFunc(func(context.Context, io.Reader, bool) (string, error) { return "learned", nil })
	s := New("the-old-token-0123", Limits{MaxBody: 1 << 20, MaxConcurrent: 2}, func() Hooks { return Hooks{Learner: ok} }, quietLog())
	if rec := post(t, s.Handler(), "the-old-token-0123", "m"); rec.Code != 200 {
		t.Fatalf("old token before reload: %d", rec.Code)
	}
	if !s.SetToken("the-new-token-4567") {
		t.Fatal("SetToken did not report the change")
	}
	if rec := post(t, s.Handler(), "the-old-token-0123", "m"); rec.Code != 401 {
		t.Fatalf("old token after reload: %d, want 401", rec.Code)
	}
	if rec := post(t, s.Handler(), "the-new-token-4567", "m"); rec.Code != 200 {
		t.Fatalf("new token after reload: %d, want 200", rec.Code)
	}
}

// TestConcurrentLearnsBounded: beyond admin.max_concurrent a report waits
// for a slot, then gets 503 with Retry-After, its body unread.
func TestConcurrentLearnsBounded(t *testing.T) {
	defer func(d time.Duration) { slotWait = d }(slotWait)
	slotWait = 50 * time.Millisecond
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	reads := make(chan int, 4)
	s := New("a-sixteen-char-token", Limits{MaxBody: 1 << 20, MaxConcurrent: 1}, func() Hooks {
		return Hooks{Learner: learnFunc(func(ctx context.Context, r io.Reader, spam bool) (string, error) {
			b, _ := io.ReadAll(r)
			reads <- len(b)
			started <- struct{}{}
			<-release
			return "learned", nil
		})}
	}, quietLog())
	first := make(chan int)
	go func() { first <- post(t, s.Handler(), "a-sixteen-char-token", "first").Code }()
	<-started
	rec := post(t, s.Handler(), "a-sixteen-char-token", "second")
	if rec.Code != 503 || rec.Header().Get("Retry-After") != retryBusy {
		t.Fatalf("second report while one is learning: %d Retry-After %q, want 503 %s", rec.Code, rec.Header().Get("Retry-After"), retryBusy)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Fatalf("first report: %d", code)
	}
	if len(reads) != 1 {
		t.Fatalf("%d bodies read, want only the first", len(reads))
	}
	if rec := post(t, s.Handler(), "a-sixteen-char-token", "third"); rec.Code != 200 {
		t.Fatalf("after the slot freed: %d", rec.Code)
	}
}

// TestDeclaredTooLarge: a Content-Length past admin.max_body is refused
// before a byte is read.
func TestDeclaredTooLarge(t *testing.T) {
	called := false
	s := New("a-sixteen-char-token", Limits{MaxBody: 10, MaxConcurrent: 1}, func() Hooks {
		return Hooks{Learner: learnFunc(func(context.Context, io.Reader, bool) (string, error) { called = true; return "", errors.New("x") })}
	}, quietLog())
	if rec := post(t, s.Handler(), "a-sixteen-char-token", strings.Repeat("x", 11)); rec.Code != 413 || called {
		t.Fatalf("status %d, learner called %v; want 413 without learning", rec.Code, called)
	}
}
