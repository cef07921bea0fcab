package lists

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
)

func TestSetDomains(t *testing.T) {
	s := newSet()
	for _, e := range []string{"partner.example", "Mail.Other.Example.", "zip", "bücher.example"} {
		if err := s.add(kindDomain, e); err != nil {
			t.Fatalf("add %q: %v", e, err)
		}
	}
	tests := []struct {
		name, entry string
		ok          bool
	}{
		{"partner.example", "partner.example", true},
		{"news.mail.partner.example", "partner.example", true},
		{"evilpartner.example", "", false}, // a suffix is not a parent
		{"partner.example.evil.test", "", false},
		{"other.example", "", false}, // the entry is a subdomain of it
		{"x.mail.other.example", "mail.other.example", true},
		{"download.zip", "zip", true}, // a whole top-level domain
		{"bücher.example", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"", "", false},
	}
	for _, tt := range tests {
		e, ok := s.domain(tt.name)
		if ok != tt.ok || e != tt.entry {
			t.Errorf("domain(%q) = %q %v, want %q %v", tt.name, e, ok, tt.entry, tt.ok)
		}
	}
	if s.Len() != 4 {
		t.Errorf("Len %d, want 4", s.Len())
	}
}

func TestSetAddresses(t *testing.T) {
	s := newSet()
	for _, e := range []string{"Boss@Partner.example", "@bulk.example", "news.example"} {
		if err := s.add(kindAddress, e); err != nil {
			t.Fatalf("add %q: %v", e, err)
		}
	}
	tests := []struct {
		local, domain, entry string
		ok                   bool
	}{
		{"boss", "partner.example", "boss@partner.example", true},
		{"BOSS", "partner.example", "boss@partner.example", true},
		{"intern", "partner.example", "", false},
		{"any", "bulk.example", "bulk.example", true},
		{"any", "eu.news.example", "news.example", true},
		{"boss", "", "", false},
	}
	for _, tt := range tests {
		e, ok := s.address(filters.Address{Local: tt.local, Domain: tt.domain})
		if ok != tt.ok || e != tt.entry {
			t.Errorf("address(%s@%s) = %q %v, want %q %v", tt.local, tt.domain, e, ok, tt.entry, tt.ok)
		}
	}
}

func TestSetIPs(t *testing.T) {
	s := newSet()
	for _, e := range []string{"203.0.113.0/24", "203.0.113.7", "2001:db8::/32", "2001:db8:1::5", "0.0.0.0/0", "::ffff:198.51.100.0/120"} {
		if err := s.add(kindIP, e); err != nil {
			t.Fatalf("add %q: %v", e, err)
		}
	}
	tests := []struct {
		addr, entry string
	}{
		{"203.0.113.7", "203.0.113.7/32"}, // the longest entry names the match
		{"203.0.113.8", "203.0.113.0/24"},
		{"::ffff:203.0.113.9", "203.0.113.0/24"}, // mapped is IPv4
		{"198.51.100.4", "198.51.100.0/24"},      // a mapped prefix is the IPv4 prefix
		{"192.0.2.1", "0.0.0.0/0"},
		{"2001:db8:1::5", "2001:db8:1::5/128"},
		{"2001:db8:ffff::1", "2001:db8::/32"},
		{"2001:db9::1", ""},
	}
	for _, tt := range tests {
		p, ok := s.ip(netip.MustParseAddr(tt.addr))
		got := ""
		if ok {
			got = p.String()
		}
		if got != tt.entry {
			t.Errorf("ip(%s) = %q, want %q", tt.addr, got, tt.entry)
		}
	}
	if _, ok := s.ip(netip.Addr{}); ok {
		t.Error("the invalid address matched")
	}
}

func TestEntryErrors(t *testing.T) {
	tests := []struct {
		kind  entryKind
		entry string
		want  string
	}{
		{kindIP, "203.0.113.1/24", "host bits set: write 203.0.113.0/24"},
		{kindIP, "203.0.113", "not an address"},
		{kindIP, "fe80::1%eth0", "not an address"},
		{kindDomain, "*.example.org", "matches its subdomains already"},
		{kindDomain, "exa mple.org", "one entry per line"},
		{kindDomain, "-bad.example", "not a domain"},
		{kindDomain, "a..example", "not a domain"},
		{kindDomain, "ex!ample.org", "not a domain"},
		{kindAddress, "a<b@example.org", "local part"},
		{kindAddress, "user@", "not a domain"},
	}
	for _, tt := range tests {
		err := newSet().add(tt.kind, tt.entry)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("add(%q) = %v, want an error with %q", tt.entry, err, tt.want)
		}
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	f := false
	lists := []List{
		{Name: "OK", Match: MatchFromDomain, Entries: []string{"a.example"}, Action: filters.ListAllow},
		{Name: "lower", Match: MatchIP, Entries: []string{"192.0.2.1"}},
		{Name: "OK", Match: MatchIP, Entries: []string{"192.0.2.1"}},
		{Name: "BADMATCH", Match: "subject", Entries: []string{"x"}},
		{Name: "BADENTRY", Match: MatchIP, Entries: []string{"192.0.2.1", "nope"}},
		{Name: "LINKS", Match: MatchURLDomain, Entries: []string{"a.example"}, Action: filters.ListAllow},
		{Name: "EMPTY", Match: MatchIP},
		{Name: "IPAUTH", Match: MatchIP, Entries: []string{"192.0.2.1"}, Authenticated: &f},
		{Name: "SPF_PASS", Match: MatchIP, Entries: []string{"192.0.2.1"}},
		{Name: "ACT", Match: MatchIP, Entries: []string{"192.0.2.1"}, Action: "reject"},
	}
	err := Validate(lists, func(n string) (string, bool) { return "check spf", n == "SPF_PASS" })
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`lists[1].name: "lower"`,
		`lists[2].name: "OK" is already the name of lists[0]`,
		`lists[3].match: "subject"`,
		`lists[4].entries[1]: "nope"`,
		`lists[5].action: allow: a list on url_domain cannot allow mail`,
		`lists[6]: no entries and no file`,
		`lists[7].authenticated: false: only sender identities`,
		`lists[8].name: "SPF_PASS" is already a symbol of check spf`,
		`lists[9].action: "reject": want allow, deny or score`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "lists[0]:") || strings.Contains(err.Error(), "lists[0].") {
		t.Errorf("a valid list reported:\n%v", err)
	}
}

// message builds a message from a sender; auth fills its facts.
func message(from, mailFrom string, rcpts []string, auth filters.AuthResults) *filters.Message {
	m := &filters.Message{
		Envelope: filters.Envelope{ClientIP: netip.MustParseAddr("203.0.113.9"), Helo: "mx.partner.example", MailFrom: mailFrom, Rcpts: rcpts},
		Headers:  []filters.Header{{Name: "From", Value: " " + from}, {Name: "Subject", Value: " hi"}},
	}
	m.Facts.Auth = auth
	return m
}

var (
	dmarcPass = filters.AuthResults{
		SPF:   filters.SPFResult{Result: filters.SPFPass, Domain: "partner.example", Identity: filters.SPFMailFrom},
		DKIM:  []filters.DKIMResult{{Domain: "partner.example", Result: filters.DKIMPass}},
		DMARC: filters.DMARCResult{Result: filters.DMARCPass, Domain: "partner.example", Policy: filters.DMARCPolicyReject},
	}
	// The same From forged from elsewhere: nothing authenticates it.
	forged = filters.AuthResults{
		SPF:   filters.SPFResult{Result: filters.SPFFail, Domain: "partner.example", Identity: filters.SPFMailFrom},
		DKIM:  []filters.DKIMResult{{Domain: "partner.example", Result: filters.DKIMFail}},
		DMARC: filters.DMARCResult{Result: filters.DMARCFail, Domain: "partner.example", Policy: filters.DMARCPolicyReject},
	}
	// Signed by the domain, which publishes no DMARC policy.
	dkimNoDMARC = filters.AuthResults{
		SPF:   filters.SPFResult{Result: filters.SPFNeutral, Domain: "bounce.partner.example", Identity: filters.SPFMailFrom},
		DKIM:  []filters.DKIMResult{{Domain: "mail.partner.example", Result: filters.DKIMPass}},
		DMARC: filters.DMARCResult{Result: filters.DMARCNone, Domain: "partner.example"},
	}
	// SPF passes for the HELO only (null reverse-path).
	heloOnly = filters.AuthResults{SPF: filters.SPFResult{Result: filters.SPFPass, Domain: "mx.partner.example", Identity: filters.SPFHelo}}
)

func boolp(b bool) *bool { return &b }

func newCheck(t *testing.T, lists ...List) *Check {
	t.Helper()
	c, err := New(Config{Lists: lists}, Deps{Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAllowNeedsAuthentication: a sender identity on an allow list
// matches only when SPF, DKIM or DMARC proved it; a forged From of an
// allowed domain is never allowed.
func TestAllowNeedsAuthentication(t *testing.T) {
	allow := func(m Match, entries ...string) List {
		return List{Name: "PARTNERS", Match: m, Entries: entries, Action: filters.ListAllow}
	}
	tests := []struct {
		name   string
		list   List
		msg    *filters.Message
		detail string // "" when the list must not match
	}{
		{"from_domain, DMARC pass", allow(MatchFromDomain, "partner.example"),
			message("Boss <boss@partner.example>", "bounce@partner.example", nil, dmarcPass),
			"from_domain partner.example matches partner.example (DMARC pass)"},
		{"from_domain forged: DMARC fail", allow(MatchFromDomain, "partner.example"),
			message("Boss <boss@partner.example>", "x@evil.test", nil, forged), ""},
		{"from_domain forged, no authentication at all", allow(MatchFromDomain, "partner.example"),
			message("boss@partner.example", "x@evil.test", nil, filters.AuthResults{}), ""},
		{"from_domain: an aligned DKIM pass without a DMARC policy", allow(MatchFromDomain, "partner.example"),
			message("boss@news.partner.example", "x@bounce.partner.example", nil, dkimNoDMARC),
			"from_domain news.partner.example matches partner.example (DKIM pass d=mail.partner.example)"},
		{"from_domain: a signature of another organization aligns with nothing", allow(MatchFromDomain, "partner.example"),
			message("boss@partner.example", "x@evil.test", nil, filters.AuthResults{DKIM: []filters.DKIMResult{{Domain: "evil.test", Result: filters.DKIMPass}}}), ""},
		{"from_domain: an allowed author next to a forged one", allow(MatchFromDomain, "partner.example"),
			message("boss@partner.example, ceo@bank.example", "x@partner.example", nil, dmarcPass), ""},
		{"from_domain, authenticated: false written out", List{Name: "PARTNERS", Match: MatchFromDomain, Entries: []string{"partner.example"}, Action: filters.ListAllow, Authenticated: boolp(false)},
			message("boss@partner.example", "x@evil.test", nil, forged), "from_domain partner.example matches partner.example"},
		{"from address", allow(MatchFrom, "boss@partner.example"),
			message("Boss <Boss@partner.example>", "", nil, dmarcPass), "from Boss@partner.example matches boss@partner.example (DMARC pass)"},
		{"from address forged", allow(MatchFrom, "boss@partner.example"),
			message("boss@partner.example", "", nil, forged), ""},
		{"env_from_domain, SPF pass", allow(MatchEnvFromDomain, "partner.example"),
			message("a@b.example", "bounce@partner.example", nil, dmarcPass), "env_from_domain partner.example matches partner.example (SPF pass)"},
		{"env_from_domain, SPF fail", allow(MatchEnvFromDomain, "partner.example"),
			message("a@b.example", "bounce@partner.example", nil, forged), ""},
		{"env_from: SPF for the HELO is not for MAIL FROM", allow(MatchEnvFrom, "bounce@mx.partner.example"),
			message("a@b.example", "bounce@mx.partner.example", nil, heloOnly), ""},
		{"helo, SPF pass for the HELO", allow(MatchHelo, "partner.example"),
			message("a@b.example", "", nil, heloOnly), "helo mx.partner.example matches partner.example (SPF pass)"},
		{"helo, nothing proves it", allow(MatchHelo, "partner.example"),
			message("a@b.example", "", nil, filters.AuthResults{}), ""},
		{"dkim_domain, passing signature", allow(MatchDKIMDomain, "partner.example"),
			message("a@b.example", "", nil, dmarcPass), "dkim_domain partner.example matches partner.example (DKIM pass)"},
		{"dkim_domain, failing signature", allow(MatchDKIMDomain, "partner.example"),
			message("a@b.example", "", nil, forged), ""},
		{"ip needs no proof", allow(MatchIP, "203.0.113.0/24"),
			message("boss@partner.example", "", nil, forged), "ip 203.0.113.9 in 203.0.113.0/24"},
		{"a deny list refuses a claimed name", List{Name: "BANNED", Match: MatchFromDomain, Entries: []string{"partner.example"}, Action: filters.ListDeny},
			message("boss@partner.example", "", nil, forged), "from_domain partner.example matches partner.example"},
		{"a negative score is a proven identity's only", List{Name: "FRIENDS", Match: MatchFromDomain, Entries: []string{"partner.example"}, Score: -5},
			message("boss@partner.example", "", nil, forged), ""},
		{"a positive score counts claims", List{Name: "WATCH", Match: MatchFromDomain, Entries: []string{"partner.example"}, Score: 2},
			message("boss@partner.example", "", nil, forged), "from_domain partner.example matches partner.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			syms, err := newCheck(t, tt.list).Run(context.Background(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.detail == "" {
				if len(syms) != 0 {
					t.Fatalf("matched: %+v", syms)
				}
				return
			}
			if len(syms) != 1 || syms[0].Name != tt.list.Name || syms[0].Detail != tt.detail || syms[0].List != tt.list.action() {
				t.Fatalf("symbols %+v, want one %s with detail %q", syms, tt.list.Name, tt.detail)
			}
			if (syms[0].Force == filters.Reject) != (tt.list.action() == filters.ListDeny) {
				t.Errorf("force %q for a %s list", syms[0].Force, tt.list.action())
			}
		})
	}
}

// TestForgedPartnerNeverAllowed goes through Decide: the allowed partner
// is accepted although its score says reject; the same From forged is
// judged on its evidence.
func TestForgedPartnerNeverAllowed(t *testing.T) {
	c := newCheck(t, List{Name: "PARTNERS", Match: MatchFromDomain, Entries: []string{"partner.example"}, Action: filters.ListAllow})
	listed := filters.Symbol{Name: "SPAMHAUS_ZEN", Score: 20}
	for _, tc := range []struct {
		auth filters.AuthResults
		want filters.Action
	}{{dmarcPass, filters.Accept}, {forged, filters.Reject}} {
		syms, _ := c.Run(context.Background(), message("boss@partner.example", "", nil, tc.auth))
		v := filters.Decide(append(syms, listed), filters.Policy{Tag: 5, Reject: 15})
		if v.Action != tc.want {
			t.Errorf("DMARC %s: %s (%s), want %s", tc.auth.DMARC.Result, v.Action, v.Reason, tc.want)
		}
	}
}

func TestRecipientAndContentMatches(t *testing.T) {
	c := newCheck(t,
		List{Name: "POSTMASTER", Match: MatchRcpt, Entries: []string{"postmaster@example.test", "@abuse.example.test"}, Action: filters.ListAllow},
		List{Name: "TRIAL_RCPT", Match: MatchRcptDomain, Entries: []string{"trial.example"}, Score: 1},
		List{Name: "BAD_LINKS", Match: MatchURLDomain, Entries: []string{"phish.example"}, Score: 6},
		List{Name: "BAD_NS", Match: MatchNSName, Entries: []string{"ns.evil-dns.example"}, Action: filters.ListDeny},
	)
	m := message("a@b.example", "", []string{"Postmaster@example.test", "bob@example.test", "x@eu.trial.example", "y@abuse.example.test", "postmaster@example.test"}, filters.AuthResults{})
	m.Facts.Content.URLs = []filters.URL{{URL: "https://login.phish.example/a", Host: "login.phish.example", Domain: "phish.example"}}
	m.Facts.Content.Domains = []string{"phish.example"}
	m.Facts.Infra.Domains = []filters.DomainInfra{{Domain: "phish.example", NS: []filters.NSHost{{Name: "ns1.ns.evil-dns.example"}}}}
	syms, err := c.Run(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range syms {
		got = append(got, s.Name+"|"+s.Rcpt+"|"+s.Detail)
	}
	want := []string{
		"POSTMASTER|Postmaster@example.test|rcpt Postmaster@example.test matches postmaster@example.test",
		"POSTMASTER|y@abuse.example.test|rcpt y@abuse.example.test matches abuse.example.test",
		"TRIAL_RCPT|x@eu.trial.example|rcpt_domain x@eu.trial.example matches trial.example",
		"BAD_LINKS||url_domain login.phish.example matches phish.example (link https://login.phish.example/a)",
		"BAD_NS||ns_name ns1.ns.evil-dns.example matches ns.evil-dns.example (nameserver phish.example)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("symbols:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFileBadLinesAtStart: a bad line is logged with its file and line
// and skipped; the good ones are used.
func TestFileBadLinesAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deny.txt")
	os.WriteFile(path, []byte("# spammers\nspam.example   # since May\n\nnot a domain\n*.wild.example\nother.example\n"), 0o644)
	var logs bytes.Buffer
	c, err := New(Config{Lists: []List{{Name: "DENY", Match: MatchFromDomain, File: path, Action: filters.ListDeny}}},
		Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Entries()["DENY"]; n != 2 {
		t.Errorf("%d entries, want 2", n)
	}
	for _, want := range []string{path + ":4", path + ":5"} {
		if !strings.Contains(logs.String(), "at="+want) {
			t.Errorf("log does not name %s:\n%s", want, logs.String())
		}
	}
	if _, err := New(Config{Lists: []List{{Name: "DENY", Match: MatchFromDomain, File: path + ".missing"}}}, Deps{}); err == nil || !strings.Contains(err.Error(), "lists[0].file") {
		t.Errorf("a missing file: %v, want an error naming lists[0].file", err)
	}
}

// TestFileReload: a changed file is read once it holds still for a poll;
// a file with a bad line keeps the list as it was, and says where.
func TestFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deny.txt")
	write := func(s string) {
		t.Helper()
		// Through a new file renamed over the old one, as deploy tools do.
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("old.example\n")
	var logs bytes.Buffer
	c, err := New(Config{Lists: []List{{Name: "DENY", Match: MatchEnvFromDomain, File: path, Action: filters.ListDeny}}},
		Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	denied := func(dom string) bool {
		syms, _ := c.Run(context.Background(), message("a@x.example", "a@"+dom, nil, filters.AuthResults{}))
		return len(syms) == 1
	}
	if !denied("old.example") || denied("new.example") {
		t.Fatal("initial list wrong")
	}
	write("new.example\n")
	c.pollFiles() // sees the change
	if !denied("old.example") {
		t.Fatal("read before the file held still for a poll")
	}
	c.pollFiles() // unchanged since: read
	if denied("old.example") || !denied("new.example") {
		t.Fatal("the changed file was not applied")
	}
	if c.Reloads.Load() != 1 {
		t.Errorf("reloads %d", c.Reloads.Load())
	}

	write("new.example\nthird.example\nbroken entry here\n")
	c.pollFiles()
	c.pollFiles()
	if !denied("new.example") || denied("third.example") {
		t.Fatal("a file with a bad line was applied")
	}
	if !strings.Contains(logs.String(), "at="+path+":3") || !strings.Contains(logs.String(), "keeping the list as it was") {
		t.Errorf("the refused reload does not name the line:\n%s", logs.String())
	}
	if c.ReloadsRefused.Load() != 1 {
		t.Errorf("refused %d", c.ReloadsRefused.Load())
	}
	c.pollFiles()
	if c.ReloadsRefused.Load() != 1 {
		t.Error("the same bad file refused again without a change")
	}

	os.Remove(path)
	c.pollFiles()
	if !denied("new.example") {
		t.Fatal("a removed file emptied the list")
	}
	write("fixed.example\n")
	c.pollFiles()
	c.pollFiles()
	if !denied("fixed.example") || denied("new.example") {
		t.Fatal("the fixed file was not applied")
	}
}

// TestWatchRuns: Watch polls on its own and stops with its context.
func TestWatchRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allow.txt")
	os.WriteFile(path, []byte("192.0.2.0/24\n"), 0o644)
	c, err := New(Config{Lists: []List{{Name: "NETS", Match: MatchIP, File: path}}}, Deps{Poll: 5 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Watch(ctx); close(done) }()
	os.WriteFile(path, []byte("192.0.2.0/24\n203.0.113.0/24\n"), 0o644)
	deadline := time.Now().Add(10 * time.Second)
	for c.Entries()["NETS"] != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the change was never read")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
