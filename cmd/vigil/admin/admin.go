// Package admin is the daemon's HTTP admin listener: feedback ("this is
// spam" / "not spam"), DNS cache flush, health and metrics. It is off unless
// configured, listens on loopback by default, and every request except
// /healthz needs the bearer token.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/weights"
)

// Learner takes one raw message as spam or ham.
type Learner interface {
	// Learn returns a short description of what changed (learned, moved,
	// already known). rcptDomain is the domain of the user who reported
	// it, "" when not given (see reputation.scope).
	Learn(ctx context.Context, raw io.Reader, spam bool, rcptDomain string) (string, error)
}

// Hooks are what the admin listener can reach in the running daemon. Any
// nil hook answers 501.
type Hooks struct {
	Learner Learner
	// FlushDNS drops every cached DNS answer and returns how many.
	FlushDNS func() int
	// Metrics returns counters by Prometheus name.
	Metrics func() map[string]float64
	// Weights returns the learned symbol weights.
	Weights func(ctx context.Context) (weights.Listing, error)
}

// Server is the admin HTTP server.
type Server struct {
	hooks func() Hooks
	log   *slog.Logger
	http  *http.Server

	// What a reload may change while requests run.
	token   atomic.Pointer[string]
	maxBody atomic.Int64
	slots   atomic.Pointer[chan struct{}] // one per report learned at once
}

// Limits bound feedback learning: the largest report (admin.max_body) and
// how many are learned at once (admin.max_concurrent).
type Limits struct {
	MaxBody       int64
	MaxConcurrent int
}

// Retry-After values (seconds): a busy listener frees a slot in seconds; a
// store that is down takes longer to come back.
const (
	retryBusy        = "5"
	retryUnavailable = "30"
)

// slotWait is how long a report waits for a free slot before 503.
var slotWait = 10 * time.Second

// New returns an admin server. hooks is called per request so a config
// reload can swap what it reaches.
func New(token string, lim Limits, hooks func() Hooks, log *slog.Logger) *Server {
	s := &Server{hooks: hooks, log: log}
	s.SetToken(token)
	s.SetLimits(lim)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /learn/spam", s.auth(s.learn(true)))
	mux.HandleFunc("POST /learn/ham", s.auth(s.learn(false)))
	mux.HandleFunc("POST /dns/flush", s.auth(s.flush))
	mux.HandleFunc("GET /metrics", s.auth(s.metrics))
	mux.HandleFunc("GET /weights", s.auth(s.weights))
	s.http = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return s
}

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// SetToken replaces the bearer token (config reload): requests after it
// need the new one, the old one stops working. It reports whether the
// token changed.
func (s *Server) SetToken(token string) bool {
	old := s.token.Swap(&token)
	return old != nil && *old != token
}

// SetLimits replaces the learning limits (config reload). Reports already
// learning finish under the old ones.
func (s *Server) SetLimits(lim Limits) {
	s.maxBody.Store(lim.MaxBody)
	n := max(lim.MaxConcurrent, 1)
	if cur := s.slots.Load(); cur != nil && cap(*cur) == n {
		return
	}
	ch := make(chan struct{}, n)
	s.slots.Store(&ch)
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Handler exposes the routes (tests).
func (s *Server) Handler() http.Handler { return s.http.Handler }

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		token := *s.token.Load()
		if !ok || token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			http.Error(w, "admin: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

// learn takes one reported message. A report is acknowledged (200) only
// once the store has it (see store.Store.Learn); every answer that
// is not 200 says whether to send it again: 503 with Retry-After (store
// down, not durable, listener busy), or 400 / 413 (never: the report
// itself is wrong or too large).
func (s *Server) learn(spam bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := s.hooks()
		if h.Learner == nil {
			http.Error(w, "admin: learning is not configured", http.StatusNotImplemented)
			return
		}
		maxBody := s.maxBody.Load()
		if r.ContentLength > maxBody {
			http.Error(w, fmt.Sprintf("admin: report of %d bytes exceeds admin.max_body (%d)", r.ContentLength, maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		// A slot before the body is read: reports beyond max_concurrent
		// wait in the client's socket, not in our memory.
		slots := *s.slots.Load()
		t := time.NewTimer(slotWait)
		select {
		case slots <- struct{}{}:
			t.Stop()
			defer func() { <-slots }()
		case <-t.C:
			w.Header().Set("Retry-After", retryBusy)
			http.Error(w, fmt.Sprintf("admin: %d reports are being learned (admin.max_concurrent); retry later", cap(slots)), http.StatusServiceUnavailable)
			return
		case <-r.Context().Done():
			t.Stop()
			return
		}
		body := http.MaxBytesReader(w, r.Body, maxBody)
		// ?rcpt_domain=customer.example: whose user reported it. With
		// reputation.scope: rcpt_domain the report counts for that
		// domain only. It comes from the operator's own reporting
		// pipeline (the token guards it), never from the message.
		res, err := h.Learner.Learn(r.Context(), body, spam, r.URL.Query().Get("rcpt_domain"))
		if err != nil {
			code := learnStatus(err)
			if code == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", retryUnavailable)
			}
			s.log.Warn("admin: learn failed", "spam", spam, "status", code, "err", err, "remote", r.RemoteAddr)
			http.Error(w, "admin: "+err.Error(), code)
			return
		}
		s.log.Info("admin: learned", "spam", spam, "result", res, "remote", r.RemoteAddr)
		writeJSON(w, map[string]any{"ok": true, "result": res})
	}
}

// learnStatus maps a learning error to the status that tells a Sieve
// script or webmail button what to do: retry (503) or not (4xx).
func learnStatus(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, engine.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, engine.ErrNotMessage), errors.Is(err, engine.ErrBadDomain):
		return http.StatusBadRequest
	case errors.Is(err, engine.ErrNoStore):
		return http.StatusNotImplemented
	}
	// The store down or not durable, a deadline, a failed read of the
	// request: nothing was acknowledged, and sending it again is safe
	// (learning the same message twice counts once).
	return http.StatusServiceUnavailable
}

func (s *Server) flush(w http.ResponseWriter, r *http.Request) {
	h := s.hooks()
	if h.FlushDNS == nil {
		http.Error(w, "admin: no DNS cache", http.StatusNotImplemented)
		return
	}
	n := h.FlushDNS()
	s.log.Info("admin: DNS cache flushed", "entries", n)
	writeJSON(w, map[string]any{"ok": true, "flushed": n})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	h := s.hooks()
	if h.Metrics == nil {
		http.Error(w, "admin: no metrics", http.StatusNotImplemented)
		return
	}
	m := h.Metrics()
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for _, n := range names {
		fmt.Fprintf(w, "%s %g\n", n, m[n])
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// weights answers GET /weights: the learned symbol weights as JSON (503
// when the store cannot be read).
func (s *Server) weights(w http.ResponseWriter, r *http.Request) {
	h := s.hooks()
	if h.Weights == nil {
		http.Error(w, "learned weights are off\n", http.StatusNotImplemented)
		return
	}
	l, err := h.Weights(r.Context())
	if err != nil {
		w.Header().Set("Retry-After", retryUnavailable)
		http.Error(w, "weights: "+err.Error()+"\n", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(l)
}
