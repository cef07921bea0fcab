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
	"time"
)

// Learner takes one raw message as spam or ham.
type Learner interface {
	// Learn returns a short description of what changed (learned, moved,
	// already known).
	Learn(ctx context.Context, raw io.Reader, spam bool) (string, error)
}

// Hooks are what the admin listener can reach in the running daemon. Any
// nil hook answers 501.
type Hooks struct {
	Learner Learner
	// FlushDNS drops every cached DNS answer and returns how many.
	FlushDNS func() int
	// Metrics returns counters by Prometheus name.
	Metrics func() map[string]float64
}

// Server is the admin HTTP server.
type Server struct {
	token   string
	hooks   func() Hooks
	log     *slog.Logger
	maxBody int64
	http    *http.Server
}

// New returns an admin server. hooks is called per request so a config
// reload can swap what it reaches.
func New(token string, maxBody int64, hooks func() Hooks, log *slog.Logger) *Server {
	s := &Server{token: token, hooks: hooks, log: log, maxBody: maxBody}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("POST /learn/spam", s.auth(s.learn(true)))
	mux.HandleFunc("POST /learn/ham", s.auth(s.learn(false)))
	mux.HandleFunc("POST /dns/flush", s.auth(s.flush))
	mux.HandleFunc("GET /metrics", s.auth(s.metrics))
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

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Handler exposes the routes (tests).
func (s *Server) Handler() http.Handler { return s.http.Handler }

func (s *Server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
			http.Error(w, "admin: missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		next(w, r)
	}
}

func (s *Server) learn(spam bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := s.hooks()
		if h.Learner == nil {
			http.Error(w, "admin: learning is not configured", http.StatusNotImplemented)
			return
		}
		body := http.MaxBytesReader(w, r.Body, s.maxBody)
		res, err := h.Learner.Learn(r.Context(), body, spam)
		if err != nil {
			var mbe *http.MaxBytesError
			code := http.StatusBadRequest
			if errors.As(err, &mbe) {
				code = http.StatusRequestEntityTooLarge
			}
			s.log.Warn("admin: learn failed", "spam", spam, "err", err)
			http.Error(w, "admin: "+err.Error(), code)
			return
		}
		s.log.Info("admin: learned", "spam", spam, "result", res, "remote", r.RemoteAddr)
		writeJSON(w, map[string]any{"ok": true, "result": res})
	}
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
