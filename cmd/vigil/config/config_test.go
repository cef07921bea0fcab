package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestDefaultsValid(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Milter.Listen != "inet:127.0.0.1:11340" || c.Actions.Tag != 5 || c.Actions.Reject != 15 {
		t.Fatalf("defaults changed: %+v", c)
	}
}

func TestParse(t *testing.T) {
	c, err := Parse(strings.NewReader(`
milter: {listen: "unix:/run/vigil/milter.sock", read_timeout: 2m}
limits: {max_message_size: 10MiB, spool_memory: 256KiB}
actions: {tag: 4, quarantine: 8, reject: 12}
scores: {MISSING_MESSAGE_ID: 20}
policy: {dry_run: true, fail_closed: [headers]}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Milter.ReadTimeout != 2*time.Minute || c.Limits.MaxMessageSize != 10<<20 || c.Limits.SpoolMemory != 256<<10 {
		t.Fatalf("parsed %+v", c)
	}
	if c.Scores["MISSING_MESSAGE_ID"] != 20 || !c.Policy.DryRun || c.Actions.Quarantine != 8 {
		t.Fatalf("parsed %+v", c)
	}
	// Keys not given keep their defaults.
	if c.Milter.WriteTimeout != 10*time.Second || c.Limits.MaxHeaders != 1000 {
		t.Fatalf("defaults lost: %+v", c)
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown top key", "milters: {}", "milters: unknown key"},
		{"unknown nested key", "milter: {lisen: x}", "milter.lisen: unknown key"},
		{"bad listen", `milter: {listen: "127.0.0.1:25"}`, `milter.listen: "127.0.0.1:25"`},
		{"bad duration", "milter: {read_timeout: soon}", "soon"},
		{"negative duration", "limits: {check_timeout: -1s}", "limits.check_timeout: -1s: must be positive"},
		{"check longer than message", "limits: {check_timeout: 20s, message_timeout: 10s}", "limits.check_timeout: 20s: must not exceed"},
		{"bad size", "limits: {max_message_size: 10XB}", `bad size "10XB"`},
		{"reject below tag", "actions: {tag: 5, reject: 3}", "actions.reject: 3: must be greater than actions.tag"},
		{"quarantine outside", "actions: {tag: 5, quarantine: 20, reject: 15}", "actions.quarantine: 20"},
		{"bad symbol", "scores: {bad-name: 1}", "scores.bad-name"},
		{"misspelt list symbol", "scores:\n  SPAMHAUS_ZNE: 2\n", "scores.SPAMHAUS_ZNE: 2: no check reports this symbol (did you mean SPAMHAUS_ZEN?) (line 2)"},
		{"misspelt check symbol", "scores: {DKIM_PAS: 1}", "did you mean DKIM_PASS?"},
		{"unknown symbol, nothing near", "scores: {COMPLETELY_MADE_UP_THING: 1}", "scores.COMPLETELY_MADE_UP_THING: 1: no check reports this symbol (line 1)"},
		{"scalar for mapping", "milter: 5", "milter: want a mapping"},
		{"bad level", "log: {level: loud}", `log.level: "loud"`},
		{"list expected", "policy: {fail_closed: dnsbl}", "policy.fail_closed: want a list"},
		{"not yaml", "milter: [", "config:"},
		{"string for a number", "actions:\n  tag: five\n", `actions.tag: "five": want a number (line 2)`},
		{"string for a whole number", "limits: {max_headers: many}", `limits.max_headers: "many": want an integer (line 1)`},
		{"word for a boolean", "policy:\n  dry_run: yes please\n", `policy.dry_run: "yes please": want true or false (line 2)`},
		{"list for a duration", "milter:\n  read_timeout: [1]\n", "milter.read_timeout: want a duration such as 500ms, 10s, 5m or 2h, got a list (line 2)"},
		{"bad size names key and line", "\nlimits:\n  max_message_size: 10XB\n", `limits.max_message_size: "10XB": bad size "10XB": unknown unit "XB" (line 3)`},
		{"bad day duration", "reputation:\n  half_life: soon\n", `reputation.half_life: "soon": bad duration "soon" (line 2)`},
		{"validation error has the line", "actions:\n  tag: 5\n  reject: 3\n", "actions.reject: 3: must be greater than actions.tag (5) (line 3)"},
		{"list entry validation has the line", "blocklists:\n  - name: X\n    zone: nodots\n    check: ip\n", `blocklists[0].zone: "nodots" is not a list zone (line 3)`},
		{"every type error, not only the first", "actions: {tag: x}\nlog: {level: 3, format: [a]}\n", "log.format: want a string, got a list (line 2)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.yaml))
			if err == nil {
				t.Fatalf("accepted %q", tt.yaml)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadFileErrorsNamePath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vigil.yaml")
	os.WriteFile(p, []byte("milter: {lisen: x}\n"), 0o644)
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "milter.lisen") {
		t.Fatalf("error %v should name the file and key", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"0": 0, "123": 123, "1KiB": 1024, "2MiB": 2 << 20, "1GiB": 1 << 30, "10MB": 10e6, "1 kb": 1000} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MiB", "-1", "1TiB", "99999999999999999999"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
}

// TestExampleConfig keeps deploy/vigil.yaml true: it must parse, and the
// values it documents as defaults must be the defaults.
func TestExampleConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "..", "deploy", "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	// The authserv-id default is the host name; the example shows one.
	// Link following is off by default and on in the example.
	c.Auth.AuthservID = d.Auth.AuthservID
	if !c.Follow.Enabled {
		t.Error("deploy/vigil.yaml should show follow.enabled: true")
	}
	c.Follow.Enabled = d.Follow.Enabled
	if c.Scores == nil {
		c.Scores = map[string]float64{}
	}
	// Compare as YAML: nil and empty lists, and pointers to equal values,
	// are the same configuration.
	cy, _ := yaml.Marshal(c)
	dy, _ := yaml.Marshal(d)
	if string(cy) != string(dy) {
		t.Fatalf("deploy/vigil.yaml documents values that differ from the defaults:\nexample:\n%s\ndefault:\n%s", cy, dy)
	}
}

// TestDeprecatedNameserverKeys: the nameservers bounds moved from dnsbl:
// to nameservers:; old files keep working, each old key with a warning.
func TestDeprecatedNameserverKeys(t *testing.T) {
	c, err := Parse(strings.NewReader("dnsbl:\n  max_domains: 7\n  max_ns_per_domain: 2\n  max_addrs_per_ns: 3\n  max_queries: 50\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Nameservers.MaxDomains != 7 || c.Nameservers.MaxNSPerDomain != 2 || c.Nameservers.MaxAddrsPerNS != 3 {
		t.Errorf("nameservers = %+v, want the old dnsbl: values", c.Nameservers)
	}
	if c.DNSBL.MaxDomains != 7 || c.DNSBL.MaxQueries != 50 {
		t.Errorf("dnsbl = %+v", c.DNSBL)
	}
	if len(c.Warnings) != 3 || !strings.Contains(strings.Join(c.Warnings, "\n"), "dnsbl.max_ns_per_domain (line 3) is deprecated: it moved to nameservers.max_ns_per_domain") {
		t.Errorf("warnings = %q", c.Warnings)
	}

	// The new section wins over the old keys, and the new keys warn of nothing.
	c, err = Parse(strings.NewReader("dnsbl:\n  max_ns_per_domain: 2\nnameservers:\n  max_ns_per_domain: 5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Nameservers.MaxNSPerDomain != 5 || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "ignored") {
		t.Errorf("nameservers = %+v, warnings %q", c.Nameservers, c.Warnings)
	}
	c, err = Parse(strings.NewReader("nameservers:\n  max_domains: 9\n"))
	if err != nil || c.Nameservers.MaxDomains != 9 || c.DNSBL.MaxDomains != 20 || len(c.Warnings) != 0 {
		t.Errorf("new section: %+v %+v %q %v", c.Nameservers, c.DNSBL, c.Warnings, err)
	}
	if _, err := Parse(strings.NewReader("nameservers:\n  max_ns_per_domain: 0\n")); err == nil || !strings.Contains(err.Error(), "nameservers.max_ns_per_domain") {
		t.Errorf("bad value: %v", err)
	}
}

func TestChanged(t *testing.T) {
	a := Default()
	b := Default()
	b.DNS.Servers = []string{"127.0.0.1:53"}
	b.Actions.Reject = 20
	b.Admin.Token = "a-new-secret-token-value"
	b.Scores = map[string]float64{"MISSING_MESSAGE_ID": 2}
	b.Blocklists = b.Blocklists[:1]
	got := Changed(a, b)
	want := []string{"actions.reject", "admin.token", "blocklists", "dns.servers", "scores.MISSING_MESSAGE_ID"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Changed = %v, want %v", got, want)
	}
	if c := Changed(a, Default()); len(c) != 0 {
		t.Fatalf("Changed of equal configs = %v", c)
	}
}

// TestEmptyFileRefused: an empty or comment-only file is an error, never
// "the defaults" (a file caught half-written on SIGHUP).
func TestEmptyFileRefused(t *testing.T) {
	for _, content := range []string{"", "\n\n  \n", "# only a comment\n", "---\n"} {
		p := filepath.Join(t.TempDir(), "vigil.yaml")
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := Load(p); !errors.Is(err, ErrNoSettings) {
			t.Errorf("Load(%q) = %v, want ErrNoSettings", content, err)
		}
	}
}

func TestAdminTokenLength(t *testing.T) {
	for token, ok := range map[string]bool{"x": false, "fifteen-chars-x": false, "sixteen-chars-xx": true} {
		_, err := Parse(strings.NewReader("admin: {listen: \"127.0.0.1:11341\", token: " + token + "}\n"))
		if (err == nil) != ok {
			t.Errorf("token of %d characters: %v", len(token), err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
}

// TestSyntaxErrorLine: a YAML syntax error names the line where the file
// stops being YAML; yaml.v3 alone names the start of the enclosing block or
// a line off by one.
func TestSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name, yaml string
		line       int
	}{
		{"bad indentation", "milter:\n  listen: \"inet:127.0.0.1:11340\"\nactions:\n  tag: 5\n reject: 15\nlog:\n  level: info\n", 5},
		{"unterminated quote", "log:\n  level: info\nmilter:\n  listen: \"inet:127.0.0.1:11340\nactions:\n  tag: 5\n", 4},
		{"tab indentation", "actions: {tag: 5}\n\tlog: {}\n", 2},
		{"after a multi-line flow mapping", "milter: {listen: \"inet:127.0.0.1:11340\",\n  read_timeout: 2m}\nactions: {tag: 5,,}\n", 3},
		{"first line", "- a\nb: c\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			if want := fmt.Sprintf("config: line %d: ", tt.line); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want it to start with %q", err, want)
			}
		})
	}
}

// TestPackaged: the packaged configuration is the example with dry run on,
// link following off and the authserv-id left to its default, and nothing
// else changed; every comment of the example stays.
func TestPackaged(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "vigil.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Packaged(example)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("the packaged configuration does not load: %v\n%s", err, out)
	}
	d := Default()
	if !c.Policy.DryRun || c.Follow.Enabled || c.Auth.AuthservID != d.Auth.AuthservID {
		t.Errorf("dry_run %v, follow %v, authserv_id %q: want true, false, %q", c.Policy.DryRun, c.Follow.Enabled, c.Auth.AuthservID, d.Auth.AuthservID)
	}
	c.Policy.DryRun = false
	cy, _ := yaml.Marshal(c)
	dy, _ := yaml.Marshal(d)
	if string(cy) != string(dy) {
		t.Errorf("the packaged configuration changes more than its three keys:\n%s", cy)
	}
	for _, line := range strings.Split(string(example), "\n") {
		// follow.enabled's "example" note is replaced: packaged, it is not one.
		if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line, "# example; built-in default") && !strings.Contains(string(out), line[i:]) {
			t.Errorf("comment lost: %q", line[i:])
		}
	}
	// An example that no longer has a line the packaging edits fails loudly.
	if _, err := Packaged([]byte("policy: {dry_run: true}\n")); err == nil {
		t.Error("Packaged accepted an example without the expected lines")
	}
}

func TestListsAndSettings(t *testing.T) {
	c, err := Parse(strings.NewReader(`
actions: {tag: 5, reject: 15}
scores: {MISSING_DATE: 1, BANNED: 30}
policy: {dry_run: false}
lists:
  - {name: PARTNERS, match: from_domain, entries: [partner.example], action: allow}
  - {name: BANNED, match: ip, entries: ["192.0.2.0/24"], action: deny}
settings:
  - name: trial
    rcpt_domains: [trial.example]
    dry_run: true
    actions: {tag: 4, reject: 12}
    scores: {CONTENT_IMAGE_HEAVY: 0}
    disable: [follow]
  - {name: vip, rcpts: [ceo@example.org], actions: {reject: 30}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Lists) != 2 || c.Lists[0].Action != "allow" || c.Lists[1].Entries[0] != "192.0.2.0/24" {
		t.Fatalf("lists %+v", c.Lists)
	}
	pols := c.RcptPolicies()
	trial, vip := pols[0], pols[1]
	if !trial.Policy.DryRun || trial.Policy.Tag != 4 || trial.Policy.Reject != 12 || trial.Disable[0] != "follow" || trial.Domains[0] != "trial.example" {
		t.Errorf("trial policy %+v", trial)
	}
	if trial.Policy.Scores["CONTENT_IMAGE_HEAVY"] != 0 || trial.Policy.Scores["MISSING_DATE"] != 1 {
		t.Errorf("trial scores %v: its own over the top-level ones", trial.Policy.Scores)
	}
	if _, ok := trial.Policy.Scores["CONTENT_IMAGE_HEAVY"]; !ok {
		t.Error("trial's score 0 lost")
	}
	if vip.Policy.DryRun || vip.Policy.Tag != 5 || vip.Policy.Reject != 30 || vip.Rcpts[0] != "ceo@example.org" {
		t.Errorf("vip policy %+v: keys left out are the top-level ones", vip)
	}
	if c.Scores["CONTENT_IMAGE_HEAVY"] != 0 || len(c.Scores) != 2 || c.Scores["BANNED"] != 30 {
		t.Errorf("a settings entry changed the top-level scores: %v", c.Scores)
	}
}

func TestListsAndSettingsErrorsNameTheKey(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"list match", "lists:\n  - {name: X, match: subject, entries: [a]}\n", `lists[0].match: "subject": want ip, helo`},
		{"list entry", "lists:\n  - name: X\n    match: ip\n    entries: [192.0.2.1/24]\n", `lists[0].entries[0]: "192.0.2.1/24": host bits set: write 192.0.2.0/24 (line 4)`},
		{"list takes a check's symbol", "lists:\n  - {name: SPF_PASS, match: ip, entries: [192.0.2.1]}\n", `lists[0].name: "SPF_PASS" is already a symbol of check spf (line 2)`},
		{"list takes a blocklist's name", "lists:\n  - {name: SPAMCOP, match: ip, entries: [192.0.2.1]}\n", `lists[0].name: "SPAMCOP" is already a symbol of a blocklist`},
		{"list unknown key", "lists:\n  - {name: X, match: ip, entries: [192.0.2.1], actoin: deny}\n", "lists[0].actoin: unknown key (line 2)"},
		{"allow on links", "lists:\n  - {name: X, match: url_domain, entries: [a.example], action: allow}\n", "lists[0].action: allow: a list on url_domain cannot allow mail"},
		{"settings without recipients", "settings:\n  - {name: t, dry_run: true}\n", "settings[0]: t: no rcpt_domains and no rcpts"},
		{"settings thresholds", "settings:\n  - name: t\n    rcpt_domains: [a.example]\n    actions: {reject: 2}\n", "settings[0].actions.reject: 2: must be greater than its tag threshold (5)"},
		{"settings bad domain", "settings:\n  - {name: t, rcpt_domains: [\"not a domain\"]}\n", `settings[0].rcpt_domains[0]: "not a domain": not a domain (line 2)`},
		{"settings bad address", "settings:\n  - {name: t, rcpts: [nobody]}\n", `settings[0].rcpts[0]: "nobody": not an address`},
		{"settings domain twice", "settings:\n  - {name: a, rcpt_domains: [x.example]}\n  - {name: b, rcpt_domains: [X.example.]}\n", `settings[1].rcpt_domains[0]: "X.example.": already in settings[0].rcpt_domains[0]`},
		{"settings unknown check", "settings:\n  - {name: t, rcpt_domains: [a.example], disable: [folow]}\n", `settings[0].disable[0]: "folow": not a check`},
		{"settings name", "settings:\n  - {name: \"a b\", rcpt_domains: [a.example]}\n", `settings[0].name: "a b"`},
		{"settings bad symbol", "settings:\n  - {name: t, rcpt_domains: [a.example], scores: {bad-name: 1}}\n", "settings[0].scores.bad-name"},
		{"settings unknown symbol", "settings:\n  - {name: t, rcpt_domains: [a.example], scores: {MISSING_DATEE: 1}}\n", "settings[0].scores.MISSING_DATEE: 1: no check reports this symbol (did you mean MISSING_DATE?)"},
		{"a score for a list that is not there", "lists:\n  - {name: PARTNERS, match: ip, entries: [192.0.2.1]}\nscores: {PARTNER: 1}\n", "scores.PARTNER: 1: no check reports this symbol (did you mean PARTNERS?)"},
		{"list takes a switched-off blocklist's name", "lists:\n  - {name: SURBL_MULTI, match: ip, entries: [192.0.2.1]}\n", `lists[0].name: "SURBL_MULTI" is already a symbol of a blocklist`},
		{"scope", "reputation: {scope: per_user}\n", `reputation.scope: "per_user": want global or rcpt_domain`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestInclude: include: files merge over the main file in the order of
// their names; mappings key by key, lists and settings entry by entry;
// errors name the included file, the key as written there and its line.
func TestInclude(t *testing.T) {
	dir := t.TempDir()
	confd := filepath.Join(dir, "conf.d")
	os.Mkdir(confd, 0o755)
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "vigil.yaml")
	write(main, `include: [conf.d/*.yaml]
actions: {tag: 5, reject: 15}
scores: {MISSING_DATE: 1, MISSING_SUBJECT: 2}
policy: {fail_closed: [dnsbl]}
lists:
  - {name: PARTNERS, match: from_domain, entries: [old.example], action: allow}
`)
	write(filepath.Join(confd, "20-customer.yaml"), `actions: {reject: 20}
scores: {MISSING_SUBJECT: 3}
lists:
  - {name: PARTNERS, match: from_domain, entries: [new.example], action: allow}
  - {name: BLOCKED, match: ip, entries: ["192.0.2.0/24"], action: deny}
settings:
  - {name: customer, rcpt_domains: [customer.example], dry_run: true}
`)
	write(filepath.Join(confd, "10-base.yaml"), `actions: {reject: 18, tag: 6}
policy: {fail_closed: [spf]}
`)
	write(filepath.Join(confd, "notes.txt"), "not yaml: [")
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	if c.Actions.Tag != 6 || c.Actions.Reject != 20 {
		t.Errorf("actions %+v: 10-base then 20-customer over the main file", c.Actions)
	}
	if c.Scores["MISSING_DATE"] != 1 || c.Scores["MISSING_SUBJECT"] != 3 {
		t.Errorf("scores %v: merged key by key", c.Scores)
	}
	if len(c.Policy.FailClosed) != 1 || c.Policy.FailClosed[0] != "spf" {
		t.Errorf("fail_closed %v: a list other than lists/settings/blocklists is replaced whole", c.Policy.FailClosed)
	}
	if len(c.Lists) != 2 || c.Lists[0].Name != "PARTNERS" || c.Lists[0].Entries[0] != "new.example" || c.Lists[1].Name != "BLOCKED" {
		t.Errorf("lists %+v: same name replaced, new appended", c.Lists)
	}
	if len(c.Settings) != 1 || c.Settings[0].Name != "customer" {
		t.Errorf("settings %+v", c.Settings)
	}

	// An error in an included file names it, the key as it wrote it, and
	// the line.
	write(filepath.Join(confd, "30-bad.yaml"), "# a customer\nlists:\n  - name: BAD\n    match: ip\n    entries: [nope]\n")
	_, err = Load(main)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(confd, "30-bad.yaml")+`: lists[0].entries[0]: "nope": not an address or CIDR prefix (line 5)`) {
		t.Errorf("error %v: want the included file, its own key and line", err)
	}
	write(filepath.Join(confd, "30-bad.yaml"), "actions:\n  rejekt: 3\n")
	if _, err = Load(main); err == nil || !strings.Contains(err.Error(), filepath.Join(confd, "30-bad.yaml")+": actions.rejekt: unknown key (line 2)") {
		t.Errorf("error %v: want the unknown key in the included file", err)
	}
	write(filepath.Join(confd, "30-bad.yaml"), "\nactions:\n  quarantine: 40\n")
	if _, err = Load(main); err == nil || !strings.Contains(err.Error(), "30-bad.yaml: actions.quarantine: 40: must be 0 (off) or between actions.tag (6) and actions.reject (20) (line 3)") {
		t.Errorf("error %v: a value an included file set is named in that file", err)
	}
	write(filepath.Join(confd, "30-bad.yaml"), "include: [x.yaml]\n")
	if _, err = Load(main); err == nil || !strings.Contains(err.Error(), "only the main configuration file includes") {
		t.Errorf("nested include: %v", err)
	}
	write(filepath.Join(confd, "30-bad.yaml"), "# nothing yet\n")
	if _, err = Load(main); err == nil || !strings.Contains(err.Error(), "30-bad.yaml: the file holds no settings") {
		t.Errorf("empty include: %v", err)
	}
	os.Remove(filepath.Join(confd, "30-bad.yaml"))

	write(main, "include: [conf.d/missing.yaml]\n")
	if _, err = Load(main); err == nil || !strings.Contains(err.Error(), `include[0]: "conf.d/missing.yaml": no such file`) {
		t.Errorf("a missing named file: %v", err)
	}
	write(main, "include: [nothing/*.yaml]\nactions: {tag: 5}\n")
	if _, err = Load(main); err != nil {
		t.Errorf("a pattern that matches nothing: %v", err)
	}
}

// TestScoresKnownSymbols: every kind of name the catalogue holds is
// accepted in scores: a check's symbol, an error symbol, a configured
// list's families, and a list that is switched off.
func TestScoresKnownSymbols(t *testing.T) {
	yaml := `
blocklists:
  - {name: LOCAL_BL, zone: bl.example.test, check: ip, score: 2}
  - {name: OFF_BL, zone: off.example.test, check: ip, score: 2, enabled: false}
scores:
  DKIM_PASS: -1
  DNSBL_ERROR: 0
  LOCAL_BL: 3
  LOCAL_BL_UNKNOWN: 0.5
  OFF_BL: 1
`
	if _, err := Parse(strings.NewReader(yaml)); err != nil {
		t.Fatalf("known symbols refused: %v", err)
	}
}
