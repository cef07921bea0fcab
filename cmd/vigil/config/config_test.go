package config

import (
	"os"
	"path/filepath"
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
		{"scalar for mapping", "milter: 5", "milter: want a mapping"},
		{"bad level", "log: {level: loud}", `log.level: "loud"`},
		{"list expected", "policy: {fail_closed: dnsbl}", "policy.fail_closed: want a list"},
		{"not yaml", "milter: [", "config:"},
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
