// Package admin is the daemon's HTTP admin listener: feedback ("this is
// spam" / "not spam"), DNS cache flush, health, Prometheus metrics, the
// dashboard and its JSON API. It is off unless configured, listens on
// loopback by default, and every request except /healthz and the login
// page needs the token: a Bearer header, or the session cookie the
// dashboard's login sets.
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
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/history"
	"github.com/vigilmail/vigil/filters/weights"
)

// Learner takes one raw message as spam or ham.
type Learner interface {
	// Learn returns a short description of what changed (learned, moved,
	// already known). source is engine.SourceAPI or SourceDashboard;
	// rcptDomain is the domain of the user who reported it, "" when not
	// given (see reputation.scope).
	Learn(ctx context.Context, raw io.Reader, spam bool, source, rcptDomain string) (string, error)
}

// History is the verdict history as the dashboard and the API read it.
type History interface {
	Search(ctx context.Context, q history.Query) (history.Result, error)
	Load(ctx context.Context, id uint64) (history.Detail, error)
	// Learn learns the message of entry id (engine.LearnEntry).
	Learn(ctx context.Context, id uint64, spam bool, source string) (string, error)
}

// Hooks are what the admin listener can reach in the running daemon. Any
// nil hook answers 501.
type Hooks struct {
	Learner Learner
	// FlushDNS drops every cached DNS answer and returns how many.
	FlushDNS func() int
	// Metrics serves /metrics (the Prometheus text format).
	Metrics http.Handler
	History History
	// Overview is this node's verdicts over a window ("hour", "day").
	Overview func(window string) history.Overview
	// Lists is the health of every blocklist now.
	Lists func() []dnsrep.ListHealth
	// Config is the configuration as loaded, secrets redacted, as YAML.
	Config func() ([]byte, error)
	// Node is this node's name (history.node).
	Node string
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

	sessions *sessions
	pages    *pages
}

// Limits bound feedback learning: the largest report (admin.max_body) and
// how many are learned at once (admin.max_concurrent); SessionTTL is how
// long a dashboard login lasts (admin.session_ttl).
type Limits struct {
	MaxBody       int64
	MaxConcurrent int
	SessionTTL    time.Duration
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
	s := &Server{hooks: hooks, log: log, sessions: newSessions(), pages: loadPages()}
	s.SetToken(token)
	s.SetLimits(lim)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	// Feedback and operations: the token, or a session with its CSRF token.
	mux.HandleFunc("POST /learn/spam", s.auth(apiRoute, s.learn(true)))
	mux.HandleFunc("POST /learn/ham", s.auth(apiRoute, s.learn(false)))
	mux.HandleFunc("POST /dns/flush", s.auth(apiRoute, s.flush))
	mux.HandleFunc("GET /metrics", s.auth(apiRoute, s.metrics))
	mux.HandleFunc("GET /weights", s.auth(apiRoute, s.weights))
	// The JSON API (docs/api.md).
	mux.HandleFunc("GET /api/history", s.auth(apiRoute, s.apiHistory))
	mux.HandleFunc("GET /api/history/{id}", s.auth(apiRoute, s.apiEntry))
	mux.HandleFunc("POST /api/history/{id}/learn", s.auth(apiRoute, s.apiLearnEntry))
	mux.HandleFunc("GET /api/stats", s.auth(apiRoute, s.apiStats))
	mux.HandleFunc("GET /api/config", s.auth(apiRoute, s.apiConfig))
	// The dashboard: pages redirect to the login form without a session.
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.auth(pageRoute, s.logout))
	mux.HandleFunc("GET /static/", s.static)
	mux.HandleFunc("GET /{$}", s.auth(pageRoute, s.overviewPage))
	mux.HandleFunc("GET /history", s.auth(pageRoute, s.historyPage))
	mux.HandleFunc("GET /history/{id}", s.auth(pageRoute, s.entryPage))
	mux.HandleFunc("POST /history/{id}/learn", s.auth(pageRoute, s.learnEntryForm))
	mux.HandleFunc("GET /learn", s.auth(pageRoute, s.learnPage))
	mux.HandleFunc("POST /learn", s.auth(pageRoute|csrfInBody, s.uploadForm))
	mux.HandleFunc("GET /config", s.auth(pageRoute, s.configPage))
	// A browser never sends a cross-site request that changes anything
	// here (Sec-Fetch-Site, Origin); clients without those headers (curl,
	// a Sieve script) are not browsers and carry the token themselves.
	cop := http.NewCrossOriginProtection()
	s.http = &http.Server{
		Handler:           securityHeaders(cop.Handler(mux)),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	return s
}

// contentSecurityPolicy: the dashboard is HTML and one stylesheet from
// this listener, charts are inline SVG, there is no script at all; forms
// post only here and no other site may frame the pages.
const contentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
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
// need the new one, the old one stops working, and so do the dashboard
// sessions logged in with it. It reports whether the token changed.
func (s *Server) SetToken(token string) bool {
	old := s.token.Swap(&token)
	changed := old != nil && *old != token
	if changed {
		s.sessions.clear()
	}
	return changed
}

// SetLimits replaces the learning limits and the session lifetime (config
// reload). Reports already learning finish under the old ones.
func (s *Server) SetLimits(lim Limits) {
	s.maxBody.Store(lim.MaxBody)
	s.sessions.setTTL(lim.SessionTTL)
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

// tokenOK compares a presented token with the configured one in constant
// time.
func (s *Server) tokenOK(got string) bool {
	token := *s.token.Load()
	return token != "" && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// learn takes one reported message. A report is acknowledged (200) only
// once the store has it (see store.Store.Learn); every answer that
// is not 200 says whether to send it again: 503 with Retry-After (store
// down, not durable, listener busy), or 400 / 413 (never: the report
// itself is wrong or too large).
func (s *Server) learn(spam bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBody.Load() {
			http.Error(w, fmt.Sprintf("admin: report of %d bytes exceeds admin.max_body (%d)", r.ContentLength, s.maxBody.Load()), http.StatusRequestEntityTooLarge)
			return
		}
		// ?rcpt_domain=customer.example: whose user reported it. With
		// reputation.scope: rcpt_domain the report counts for that
		// domain only. It comes from the operator's own reporting
		// pipeline (the token guards it), never from the message.
		res, code, err := s.learnReport(w, r, r.Body, spam, sourceOf(r), r.URL.Query().Get("rcpt_domain"))
		if err != nil {
			http.Error(w, "admin: "+err.Error(), code)
			return
		}
		writeJSON(w, map[string]any{"ok": true, "result": res})
	}
}

// learnReport learns body within the limits (one of admin.max_concurrent
// slots, admin.max_body) and returns the result, or the status to answer
// with the error (Retry-After already set when it says to come back).
func (s *Server) learnReport(w http.ResponseWriter, r *http.Request, body io.Reader, spam bool, source, rcptDomain string) (string, int, error) {
	h := s.hooks()
	if h.Learner == nil {
		return "", http.StatusNotImplemented, errors.New("learning is not configured")
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
		return "", http.StatusServiceUnavailable, fmt.Errorf("%d reports are being learned (admin.max_concurrent); retry later", cap(slots))
	case <-r.Context().Done():
		t.Stop()
		return "", http.StatusServiceUnavailable, r.Context().Err()
	}
	maxBody := s.maxBody.Load()
	limited := http.MaxBytesReader(w, io.NopCloser(body), maxBody)
	res, err := h.Learner.Learn(r.Context(), limited, spam, source, rcptDomain)
	if err != nil {
		code := learnStatus(err)
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryUnavailable)
		}
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			err = fmt.Errorf("report exceeds admin.max_body (%d bytes)", maxBody)
		}
		s.log.Warn("admin: learn failed", "spam", spam, "source", source, "status", code, "err", err, "remote", r.RemoteAddr)
		return "", code, err
	}
	s.log.Info("admin: learned", "spam", spam, "source", source, "result", res, "remote", r.RemoteAddr)
	return res, http.StatusOK, nil
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
	case errors.Is(err, engine.ErrNoStore), errors.Is(err, engine.ErrNoHistory):
		return http.StatusNotImplemented
	case errors.Is(err, history.ErrNotFound):
		return http.StatusNotFound
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
	h.Metrics.ServeHTTP(w, r)
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
