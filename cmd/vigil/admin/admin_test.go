package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/weights"
)

type fakeLearner struct{ got []string }

func (f *fakeLearner) Learn(ctx context.Context, r io.Reader, spam bool, rcptDomain string) (string, error) {
	if rcptDomain != "" {
		f.got = append(f.got, "for "+rcptDomain)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", fmt.Errorf("%w: empty message", engine.ErrNotMessage)
	}
	f.got = append(f.got, map[bool]string{true: "spam", false: "ham"}[spam]+":"+string(b))
	return "learned", nil
}

func TestAdmin(t *testing.T) {
	l := &fakeLearner{}
	flushed := 0
	s := New("sekret", Limits{MaxBody: 100, MaxConcurrent: 2}, func() Hooks {
		return Hooks{Learner: l, FlushDNS: func() int { flushed++; return 42 },
			Metrics: func() map[string]float64 { return map[string]float64{"vigil_messages_total": 3} },
			Weights: func(context.Context) (weights.Listing, error) {
				return weights.Listing{Blend: 0.5, Symbols: []weights.Row{{Name: "SPF_FAIL", Default: 1, Learned: 2, Used: 1.5}}}, nil
			}}
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tests := []struct {
		name, method, path, token, body string
		want                            int
		wantBody                        string
	}{
		{"health needs no token", "GET", "/healthz", "", "", 200, "ok"},
		{"no token", "POST", "/learn/spam", "", "msg", 401, "bearer"},
		{"wrong token", "POST", "/learn/spam", "nope", "msg", 401, "bearer"},
		{"learn spam", "POST", "/learn/spam", "sekret", "Subject: x\r\n\r\nbuy", 200, `"result":"learned"`},
		{"learn ham", "POST", "/learn/ham", "sekret", "Subject: y\r\n\r\nhi", 200, "learned"},
		{"learn ham for a recipient domain", "POST", "/learn/ham?rcpt_domain=customer.example", "sekret", "Subject: z\r\n\r\nhi", 200, "learned"},
		{"empty body", "POST", "/learn/ham", "sekret", "", 400, "empty message"},
		{"too big", "POST", "/learn/spam", "sekret", strings.Repeat("x", 200), 413, "exceeds admin.max_body"},
		{"wrong method", "GET", "/learn/spam", "sekret", "", 405, ""},
		{"flush", "POST", "/dns/flush", "sekret", "", 200, `"flushed":42`},
		{"metrics", "GET", "/metrics", "sekret", "", 200, "vigil_messages_total 3"},
		{"weights", "GET", "/weights", "sekret", "", 200, `{"name":"SPF_FAIL","default":1,"learned":2,"used":1.5}`},
		{"weights need the token", "GET", "/weights", "", "", 401, "bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantBody) {
				t.Fatalf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, rec.Code, rec.Body.String(), tt.want, tt.wantBody)
			}
		})
	}
	if len(l.got) != 4 || !strings.HasPrefix(l.got[0], "spam:") || !strings.HasPrefix(l.got[1], "ham:") ||
		l.got[2] != "for customer.example" || !strings.HasPrefix(l.got[3], "ham:") {
		t.Fatalf("learner saw %q", l.got)
	}
	if flushed != 1 {
		t.Fatalf("flushed %d times", flushed)
	}
	// No hooks: 501, not a crash.
	bare := New("t", Limits{MaxBody: 100, MaxConcurrent: 1}, func() Hooks { return Hooks{} }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	req := httptest.NewRequest("POST", "/dns/flush", nil)
	req.Header.Set("Authorization", "Bearer t")
	rec := httptest.NewRecorder()
	bare.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotImplemented {
		t.Fatalf("flush without hook = %d", rec.Code)
	}
	req = httptest.NewRequest("GET", "/weights", nil)
	req.Header.Set("Authorization", "Bearer t")
	rec = httptest.NewRecorder()
	bare.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotImplemented {
		t.Fatalf("weights without hook = %d", rec.Code)
	}
}
