package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vigilmail/vigil/filters/engine"
)

// routeKind says how a route is reached without a Bearer token.
type routeKind int

const (
	// apiRoute: 401 without credentials.
	apiRoute routeKind = 1 << iota
	// pageRoute: a GET without a session is sent to the login form.
	pageRoute
	// csrfInBody: the handler reads the CSRF token from the body itself
	// (a streamed multipart upload), the middleware does not.
	csrfInBody
)

// Cookie names: the session, and the login form's CSRF token.
const (
	sessionCookie = "vigil_session"
	loginCookie   = "vigil_login"
)

// maxSessions bounds the sessions kept; the one expiring first goes.
const maxSessions = 1000

type session struct {
	id      string
	csrf    string
	expires time.Time
	flash   string // shown once by the next page (the result of a POST)
}

// sessions are the dashboard's logins, in memory: a restart, or a new
// token on reload, logs everyone out.
type sessions struct {
	mu   sync.Mutex
	byID map[string]*session
	ttl  time.Duration
	now  func() time.Time
}

func newSessions() *sessions {
	return &sessions{byID: map[string]*session{}, ttl: 12 * time.Hour, now: time.Now}
}

func (ss *sessions) setTTL(d time.Duration) {
	if d <= 0 {
		d = 12 * time.Hour
	}
	ss.mu.Lock()
	ss.ttl = d
	ss.mu.Unlock()
}

func (ss *sessions) clear() {
	ss.mu.Lock()
	clear(ss.byID)
	ss.mu.Unlock()
}

// randomToken is 32 bytes from the system's CSPRNG, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) create() *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	now := ss.now()
	for id, s := range ss.byID {
		if now.After(s.expires) {
			delete(ss.byID, id)
		}
	}
	if len(ss.byID) >= maxSessions {
		var first *session
		for _, s := range ss.byID {
			if first == nil || s.expires.Before(first.expires) {
				first = s
			}
		}
		delete(ss.byID, first.id)
	}
	s := &session{id: randomToken(), csrf: randomToken(), expires: now.Add(ss.ttl)}
	ss.byID[s.id] = s
	return s
}

func (ss *sessions) get(id string) *session {
	if id == "" {
		return nil
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.byID[id]
	if s != nil && ss.now().After(s.expires) {
		delete(ss.byID, id)
		return nil
	}
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	delete(ss.byID, id)
	ss.mu.Unlock()
}

// setFlash and takeFlash carry a POST's result to the page it redirects to.
func (ss *sessions) setFlash(s *session, msg string) {
	ss.mu.Lock()
	s.flash = msg
	ss.mu.Unlock()
}

func (ss *sessions) takeFlash(s *session) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	m := s.flash
	s.flash = ""
	return m
}

// caller is who made a request: a session (the dashboard) or the bearer
// token (session nil).
type caller struct {
	session *session
}

type callerKey struct{}

func callerOf(r *http.Request) caller {
	c, _ := r.Context().Value(callerKey{}).(caller)
	return c
}

// sourceOf is the learning source of a request, for the metrics.
func sourceOf(r *http.Request) string {
	if callerOf(r).session != nil {
		return engine.SourceDashboard
	}
	return engine.SourceAPI
}

func sameSecret(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// tokenInURL reports a query that carries a credential: URLs end up in
// logs, browser history and Referer headers, so the token is refused
// there, whatever its parameter is called.
func (s *Server) tokenInURL(r *http.Request) bool {
	q := r.URL.Query()
	for k, vs := range q {
		switch strings.ToLower(k) {
		case "token", "access_token", "bearer", "auth", "password":
			return true
		}
		for _, v := range vs {
			if s.tokenOK(v) {
				return true
			}
		}
	}
	return false
}

// auth admits a request with the Bearer token, or with a session cookie
// (and, for anything but GET, the session's CSRF token in the csrf form
// field or the X-CSRF-Token header).
func (s *Server) auth(kind routeKind, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.tokenInURL(r) {
			http.Error(w, "admin: the token never goes in a URL: send it in an Authorization: Bearer header, or log in at /login", http.StatusBadRequest)
			return
		}
		if h := r.Header.Get("Authorization"); h != "" {
			got, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || !s.tokenOK(got) {
				unauthorized(w)
				return
			}
			next(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{})))
			return
		}
		var sess *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			sess = s.sessions.get(c.Value)
		}
		if sess == nil {
			if kind&pageRoute != 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			unauthorized(w)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && kind&csrfInBody == 0 {
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
				r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
				tok = r.PostFormValue("csrf")
			}
			if !sameSecret(tok, sess.csrf) {
				http.Error(w, "admin: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
				return
			}
		}
		next(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, caller{session: sess})))
	}
}

func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	http.Error(w, "admin: missing or wrong bearer token", http.StatusUnauthorized)
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		// Secure needs HTTPS: set when the request came over TLS (a
		// proxy in front says so with X-Forwarded-Proto).
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	})
}

// loginForm shows the login form with a fresh CSRF token, kept in a
// cookie too (double submit): a login must come from this form.
func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	if s.tokenInURL(r) {
		http.Error(w, "admin: the token never goes in a URL: type it into the form", http.StatusBadRequest)
		return
	}
	if c, err := r.Cookie(sessionCookie); err == nil && s.sessions.get(c.Value) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, problem string) {
	nonce := randomToken()
	s.setCookie(w, r, loginCookie, nonce, "/login", 600)
	s.render(w, r, code, "login", pageData{Title: "Log in", CSRF: nonce, Error: problem})
}

// loginDelay slows down guessing the token through the form.
var loginDelay = 300 * time.Millisecond

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.tokenInURL(r) {
		http.Error(w, "admin: the token never goes in a URL", http.StatusBadRequest)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "admin: bad login form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameSecret(r.PostForm.Get("csrf"), c.Value) {
		s.renderLogin(w, r, http.StatusForbidden, "The form expired; log in again.")
		return
	}
	if !s.tokenOK(r.PostForm.Get("token")) {
		time.Sleep(loginDelay)
		s.log.Warn("admin: dashboard login refused", "remote", r.RemoteAddr)
		s.renderLogin(w, r, http.StatusUnauthorized, "Wrong token.")
		return
	}
	sess := s.sessions.create()
	s.sessions.mu.Lock()
	ttl := s.sessions.ttl
	s.sessions.mu.Unlock()
	s.setCookie(w, r, sessionCookie, sess.id, "/", int(ttl.Seconds()))
	s.setCookie(w, r, loginCookie, "", "/login", -1)
	s.log.Info("admin: dashboard login", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if sess := callerOf(r).session; sess != nil {
		s.sessions.remove(sess.id)
	}
	s.setCookie(w, r, sessionCookie, "", "/", -1)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
