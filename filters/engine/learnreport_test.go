package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/lineartest"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
)

// flakyStore fails the classifier's learn (digests "bayes:...") while
// failBayes is set: the store took the report's reputation keys, then went
// away.
type flakyStore struct {
	store.Store
	failBayes atomic.Bool
}

func (f *flakyStore) Learn(ctx context.Context, digest string, class store.Class, keys []store.Key) (store.Outcome, error) {
	if strings.HasPrefix(digest, "bayes:") && f.failBayes.Load() {
		return "", store.ErrUnavailable
	}
	return f.Store.Learn(ctx, digest, class, keys)
}

func learnEngine(t *testing.T, st store.Store) *Engine {
	t.Helper()
	e, err := New(Options{Policy: filters.Policy{Tag: 5, Reject: 15}, Pipeline: filters.NewPipeline(time.Second, 2*time.Second, nil),
		AuthservID: "mx.test", Content: content.DefaultConfig(), Store: st, Reputation: reputation.DefaultConfig(),
		Bayes: bayes.DefaultConfig(), Limits: filters.Limits{MaxHeaders: 50}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func boltStore(t *testing.T) store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Backend: "bbolt", Path: t.TempDir(), HalfLife: filters.Duration(30 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

const report = "From: Deals <d@spam.example>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <1@spam.example>\r\nSubject: deal\r\n\r\nBuy now at http://spam.example/buy\r\n"

// TestLearnRefusesWhatIsNotAMessage: input without header fields, or
// without From, is refused (ErrNotMessage: 400), not "learned (0 keys)";
// a header block over the limits is ErrTooLarge (413).
func TestLearnRefusesWhatIsNotAMessage(t *testing.T) {
	e := learnEngine(t, boltStore(t))
	for in, want := range map[string]error{
		"":                                   ErrNotMessage,
		"hello world, this is not mail\n":    ErrNotMessage,
		"Subject: no sender\r\n\r\nbody\r\n": ErrNotMessage,
		strings.Repeat("X-Filler: x\r\n", 60) + report: ErrTooLarge,
	} {
		if _, err := e.LearnRaw(context.Background(), []byte(in), store.Spam); !errors.Is(err, want) {
			t.Errorf("LearnRaw(%.30q) = %v, want %v", in, err, want)
		}
	}
	out, err := e.LearnRaw(context.Background(), []byte(report), store.Spam)
	if err != nil || out.Overall() != store.Learned {
		t.Fatalf("a real report: %v %v", out, err)
	}
}

// TestResendAfterHalfLearn: the store took the reputation keys, the
// classifier failed, the report was refused (503) and sent again. The
// resend says "learned" (the classifier learned it now), not "duplicate".
func TestResendAfterHalfLearn(t *testing.T) {
	st := &flakyStore{Store: boltStore(t)}
	e := learnEngine(t, st)
	st.failBayes.Store(true)
	if _, err := e.LearnRaw(context.Background(), []byte(report), store.Spam); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("half-completed learn: %v, want ErrUnavailable", err)
	}
	st.failBayes.Store(false)
	out, err := e.LearnRaw(context.Background(), []byte(report), store.Spam)
	if err != nil {
		t.Fatal(err)
	}
	if out.Overall() != store.Learned || !strings.HasPrefix(out.String(), "learned as spam") {
		t.Fatalf("resend: %q (reputation %s, classifier %s), want learned", out.String(), out.Outcome, out.Bayes.Outcome)
	}
	out, _ = e.LearnRaw(context.Background(), []byte(report), store.Spam)
	if out.Overall() != store.Duplicate {
		t.Fatalf("third send: %s, want duplicate", out.Overall())
	}
}

// TestLearnMemoryLinear: learning a report allocates a small, constant
// number of bytes per byte of it (the report streams through the parser
// into fixed-size chunks; an ARF report's original is parsed from the
// part as it decodes). Before, the report was read whole, copied for the
// ARF check and again for parsing, ~4.5 times its size in all.
func TestLearnMemoryLinear(t *testing.T) {
	e := learnEngine(t, boltStore(t))
	line := strings.Repeat("all work and no play makes a dull message ", 2) + "\r\n"
	n := 0
	build := func(reps int) []byte {
		n++
		return []byte(strings.Replace(report, "<1@", "<"+strings.Repeat("x", n)+"@", 1) + strings.Repeat(line, reps))
	}
	learn := func(b []byte) {
		if _, err := e.LearnFrom(context.Background(), bytes.NewReader(b), store.Spam); err != nil {
			t.Fatal(err)
		}
	}
	lineartest.Check(t, "learn", build, 40000, 3, learn)
	// The same original inside an ARF report (RFC 5965), base64-encoded as
	// reports in the wild do.
	arf := func(reps int) []byte {
		orig := base64.StdEncoding.EncodeToString(build(reps))
		var folded strings.Builder
		for len(orig) > 76 {
			folded.WriteString(orig[:76] + "\r\n")
			orig = orig[76:]
		}
		folded.WriteString(orig + "\r\n")
		return []byte("From: fbl@isp.example\r\nDate: Sat, 28 Nov 2026 07:00:00 +0000\r\nSubject: FW: report\r\n" +
			"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nspam report\r\n" +
			"--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n\r\n" +
			"--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + folded.String() + "--b--\r\n")
	}
	lineartest.Check(t, "learn ARF", arf, 40000, 4, learn)
}
