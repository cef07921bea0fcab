package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/history"
	"github.com/vigilmail/vigil/filters/lists"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/milter"
)

// scrapeDaemon builds what vigil serve builds for /metrics (every check
// that counts something on: a DNS list, link following, reputation),
// judges one message, reloads once, and returns the scraped text.
func scrapeDaemon(t *testing.T) string {
	t.Helper()
	dns := dnstest.NewServer(t, "2.0.0.127.bl.metrics.test. 300 IN A 127.0.0.2\n9.113.0.203.bl.metrics.test. 300 IN A 127.0.0.2\n")
	cfg := config.Default()
	cfg.DNS.Servers = []string{dns.Addr()}
	cfg.Blocklists = []dnsbl.List{{Name: "METRICS_BL", Zone: "bl.metrics.test", Check: "ip", Score: 1}}
	cfg.Follow.Enabled = true
	cfg.Lists = []lists.List{{Name: "METRICS_ALLOW", Match: lists.MatchIP, Entries: []string{"192.0.2.0/24"}, Action: filters.ListAllow}}
	cfg.History.Node = "metrics-node"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.NewMemory()
	dm := newDaemonMetrics()
	rec := history.NewRecorder(st, cfg.History, log)
	rec.Start()
	defer rec.Close(context.Background())
	obs := observers{metrics: dm.engine, observers: []engine.VerdictObserver{rec}}
	rt, err := buildObserved(cfg, log, st, obs)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.close()
	srv := milter.NewServer(cfg.MilterConfig(), rt.engine, log)
	var current atomic.Pointer[runtime]
	current.Store(rt)
	dm.serve(srv, &current, rec)

	m, err := filters.ParseMessage(strings.NewReader("From: a@sender.metrics.test\r\nSubject: hi\r\nMessage-ID: <1@x>\r\n\r\nhello http://link.metrics.test/\r\n"), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	m.Envelope.ClientIP = mustAddr("203.0.113.9")
	m.Envelope.MailFrom = "a@sender.metrics.test"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt.engine.Judge(ctx, m)
	if _, err := rt.engine.LearnRaw(ctx, []byte("From: b@x.test\r\nSubject: s\r\n\r\nbody\r\n"), store.Spam); err != nil {
		t.Fatal(err)
	}

	// A reload replaces the runtime: counts go on from where they were.
	before := scrape(t, dm)
	next, err := buildObserved(cfg, log, st, obs)
	if err != nil {
		t.Fatal(err)
	}
	defer next.close()
	dm.replace(&current, rt, next)
	after := scrape(t, dm)
	for _, series := range []string{`vigil_dnsbl_queries_total{list="METRICS_BL"} 1`, `vigil_dnsbl_listed_total{list="METRICS_BL"} 1`, `vigil_filter_verdicts_total{action="accept",would_be="accept"} 1`} {
		if !strings.Contains(before, series+"\n") || !strings.Contains(after, series+"\n") {
			t.Errorf("%s before and after a reload: want it in both\nbefore:\n%s\nafter:\n%s", series, grepLines(before, "vigil_dnsbl|vigil_filter_verdicts"), grepLines(after, "vigil_dnsbl|vigil_filter_verdicts"))
		}
	}
	return after
}

func scrape(t *testing.T, dm *daemonMetrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	dm.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

func grepLines(s, re string) string {
	rx := regexp.MustCompile(re)
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if rx.MatchString(l) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsExposition: /metrics parses with the Prometheus text parser,
// every family has its HELP and TYPE, promlint finds nothing, and the
// families are exactly those docs/metrics.md lists.
func TestMetricsExposition(t *testing.T) {
	text := scrapeDaemon(t)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the text parser refuses /metrics: %v", err)
	}
	for name, f := range families {
		if f.GetHelp() == "" || f.Type == nil {
			t.Errorf("%s: no HELP or TYPE", name)
		}
		if strings.HasPrefix(name, "vigil_") && !vigilName.MatchString(name) {
			t.Errorf("%s: not vigil_<area>_<thing>[_total|_seconds]", name)
		}
	}
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
	for _, want := range []string{"go_goroutines", "process_resident_memory_bytes", "vigil_filter_verdict_seconds", "vigil_check_duration_seconds"} {
		if families[want] == nil {
			t.Errorf("no %s", want)
		}
	}
	if f := families["vigil_filter_verdict_seconds"]; f != nil && f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("vigil_filter_verdict_seconds is a %s", f.GetType())
	}

	doc := readDoc(t, "docs/metrics.md")
	documented := map[string]bool{}
	for _, m := range docMetricName.FindAllStringSubmatch(doc, -1) {
		documented[m[1]] = true
	}
	var exported []string
	for name := range families {
		if strings.HasPrefix(name, "vigil_") {
			exported = append(exported, name)
		}
	}
	sort.Strings(exported)
	for _, name := range exported {
		if !documented[name] {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
		delete(documented, name)
	}
	for name := range documented {
		t.Errorf("docs/metrics.md lists %s, which is not exported", name)
	}
}

// vigilName is vigil_<area>_<thing>, counters ending _total, durations
// _seconds.
var vigilName = regexp.MustCompile(`^vigil_[a-z]+_[a-z_]+$`)

// docMetricName is a family in a table row of docs/metrics.md: the first
// cell, in backquotes.
var docMetricName = regexp.MustCompile("(?m)^\\| `(vigil_[a-z_]+)`")

// metricMention is a family named in a README's Metrics section, with an
// optional label selector: `vigil_check_errors_total{check="spf"}`.
var metricMention = regexp.MustCompile("`(vigil_[a-z_]+)(\\{([a-z_]+)=\"([^\"]*)\"\\})?`")

// TestCheckReadmesMetrics: the Metrics section of every README under
// filters/ names only series that are exported, and the README of a check
// names every family of its own (vigil_<check>_...).
func TestCheckReadmesMetrics(t *testing.T) {
	text := scrapeDaemon(t)
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	root, ok := findUp("filters")
	if !ok {
		t.Fatal("no filters/ directory above the test")
	}
	readmes := map[string]string{} // check name (directory) -> Metrics section
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "README.md" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if sec, ok := section(string(b), "## Metrics"); ok {
			readmes[filepath.Base(filepath.Dir(path))] = sec
			for _, m := range metricMention.FindAllStringSubmatch(sec, -1) {
				f := families[m[1]]
				if f == nil {
					t.Errorf("%s names %s, which is not exported", path, m[1])
					continue
				}
				if m[3] != "" && !hasLabel(f, m[3], m[4]) {
					t.Errorf("%s names %s{%s=%q}: no such series", path, m[1], m[3], m[4])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range families {
		parts := strings.SplitN(name, "_", 3)
		if len(parts) < 3 || parts[0] != "vigil" {
			continue
		}
		sec, isCheck := readmes[parts[1]]
		if isCheck && !strings.Contains(sec, "`"+name) {
			t.Errorf("filters/%s/README.md: the Metrics section does not name %s", parts[1], name)
		}
	}
	if len(readmes) < 8 {
		t.Fatalf("only %d READMEs with a Metrics section found under %s", len(readmes), root)
	}
}

func section(doc, heading string) (string, bool) {
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		return "", false
	}
	rest := doc[i+len(heading)+2:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest, true
}

func hasLabel(f *dto.MetricFamily, name, value string) bool {
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == name && l.GetValue() == value {
				return true
			}
		}
	}
	return false
}

func readDoc(t *testing.T, rel string) string {
	t.Helper()
	path, ok := findUp(rel)
	if !ok {
		t.Fatalf("%s not found", rel)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
