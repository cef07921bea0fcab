package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/filters/history"
)

// queryOf reads a history query from URL parameters: from, rcpt, client,
// queue_id, symbol, action, before, limit.
func queryOf(r *http.Request) (history.Query, error) {
	v := r.URL.Query()
	q := history.Query{
		From: v.Get("from"), Rcpt: v.Get("rcpt"), Client: v.Get("client"),
		QueueID: v.Get("queue_id"), Symbol: v.Get("symbol"), Action: v.Get("action"),
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > history.MaxLimit {
			return q, fmt.Errorf("limit: %q is not a number from 1 to %d", s, history.MaxLimit)
		}
		q.Limit = n
	}
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, fmt.Errorf("before: %q is not an entry id", s)
		}
		q.Before = n
	}
	return q, nil
}

func entryID(r *http.Request) (uint64, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%q is not an entry id", r.PathValue("id"))
	}
	return id, nil
}

// historyStatus is the status of a history error: 404 for an entry no
// longer kept, 503 when the store does not answer.
func historyStatus(err error) int {
	if errors.Is(err, history.ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusServiceUnavailable
}

func jsonError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": err.Error()})
}

// apiHistory is GET /api/history: {"entries": [...], "next": ID,
// "scanned": N}, newest first.
func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) {
	h := s.hooks().History
	if h == nil {
		jsonError(w, http.StatusNotImplemented, errors.New("no history is kept (history.size is 0)"))
		return
	}
	q, err := queryOf(r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err)
		return
	}
	res, err := h.Search(r.Context(), q)
	if err != nil {
		jsonError(w, historyStatus(err), err)
		return
	}
	writeJSON(w, res)
}

// apiEntry is GET /api/history/{id}: the entry with why (auth results,
// links, nameservers) and what feedback on it teaches.
func (s *Server) apiEntry(w http.ResponseWriter, r *http.Request) {
	h := s.hooks().History
	if h == nil {
		jsonError(w, http.StatusNotImplemented, errors.New("no history is kept (history.size is 0)"))
		return
	}
	id, err := entryID(r)
	if err != nil {
		jsonError(w, http.StatusBadRequest, err)
		return
	}
	d, err := h.Load(r.Context(), id)
	if err != nil {
		jsonError(w, historyStatus(err), err)
		return
	}
	writeJSON(w, d)
}

// classOf reads the class of a learn request: ?class=, a form field, or a
// JSON body {"class": "spam"}.
func classOf(r *http.Request) (spam bool, err error) {
	c := r.URL.Query().Get("class")
	if c == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var body struct {
			Class string `json:"class"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&body); err != nil {
			return false, fmt.Errorf("body: %w", err)
		}
		c = body.Class
	}
	if c == "" {
		c = r.PostFormValue("class")
	}
	switch c {
	case "spam":
		return true, nil
	case "ham":
		return false, nil
	}
	return false, fmt.Errorf("class: %q: want spam or ham", c)
}

// apiLearnEntry is POST /api/history/{id}/learn?class=spam|ham.
func (s *Server) apiLearnEntry(w http.ResponseWriter, r *http.Request) {
	res, code, err := s.learnEntry(r)
	if err != nil {
		jsonError(w, code, err)
		return
	}
	writeJSON(w, map[string]any{"ok": true, "result": res})
}

func (s *Server) learnEntry(r *http.Request) (string, int, error) {
	h := s.hooks().History
	if h == nil {
		return "", http.StatusNotImplemented, errors.New("no history is kept (history.size is 0)")
	}
	id, err := entryID(r)
	if err != nil {
		return "", http.StatusBadRequest, err
	}
	spam, err := classOf(r)
	if err != nil {
		return "", http.StatusBadRequest, err
	}
	res, err := h.Learn(r.Context(), id, spam, sourceOf(r))
	if err != nil {
		s.log.Warn("admin: learning a history entry failed", "id", id, "spam", spam, "err", err, "remote", r.RemoteAddr)
		return "", learnStatus(err), err
	}
	s.log.Info("admin: learned a history entry", "id", id, "spam", spam, "source", sourceOf(r), "result", res, "remote", r.RemoteAddr)
	return res, http.StatusOK, nil
}

// Stats is GET /api/stats: this node's overview and the blocklists' health.
type Stats struct {
	Node string `json:"node"`
	history.Overview
	Lists []ListHealth `json:"lists"`
}

// ListHealth is one blocklist's health as last probed.
type ListHealth struct {
	List    string    `json:"list"`
	Zone    string    `json:"zone"`
	Healthy bool      `json:"healthy"`
	Problem string    `json:"problem,omitempty"`
	Checked time.Time `json:"checked,omitzero"`
}

func (s *Server) stats(window string) (Stats, error) {
	h := s.hooks()
	if h.Overview == nil {
		return Stats{}, errors.New("no statistics")
	}
	st := Stats{Node: h.Node, Overview: h.Overview(window), Lists: []ListHealth{}}
	if h.Lists != nil {
		for _, l := range h.Lists() {
			st.Lists = append(st.Lists, ListHealth{List: l.List, Zone: l.Zone, Healthy: l.Healthy, Problem: l.Problem, Checked: l.Checked})
		}
	}
	return st, nil
}

func (s *Server) apiStats(w http.ResponseWriter, r *http.Request) {
	window := r.URL.Query().Get("window")
	if window == "" {
		window = "hour"
	}
	if _, ok := history.Windows[window]; !ok {
		jsonError(w, http.StatusBadRequest, fmt.Errorf("window: %q: want hour or day", window))
		return
	}
	st, err := s.stats(window)
	if err != nil {
		jsonError(w, http.StatusNotImplemented, err)
		return
	}
	writeJSON(w, st)
}

// apiConfig is GET /api/config: the configuration as loaded, secrets
// redacted, as JSON.
func (s *Server) apiConfig(w http.ResponseWriter, r *http.Request) {
	h := s.hooks()
	if h.Config == nil {
		jsonError(w, http.StatusNotImplemented, errors.New("no configuration"))
		return
	}
	y, err := h.Config()
	if err != nil {
		jsonError(w, http.StatusInternalServerError, err)
		return
	}
	var v any
	if err := yaml.Unmarshal(y, &v); err != nil {
		jsonError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, v)
}
