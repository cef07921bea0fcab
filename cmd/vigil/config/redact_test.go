package config

import (
	"strings"
	"testing"
)

func TestRedacted(t *testing.T) {
	c, err := Parse(strings.NewReader(`
admin: {listen: "127.0.0.1:11341", token: "super-secret-token-123", token_file: ""}
reputation: {backend: redis, redis: {addr: "127.0.0.1:6379", password: "redis-pass-456"}}
bayes: {max_tokens: 1234}
blocklists:
  - {name: SPAMHAUS_ZEN_DQS, zone: abcdef0123456789dqskey.zen.dq.spamhaus.net, check: ip, score: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	y, err := Redacted(c)
	if err != nil {
		t.Fatal(err)
	}
	out := string(y)
	for _, secret := range []string{"super-secret-token-123", "redis-pass-456", "abcdef0123456789dqskey"} {
		if strings.Contains(out, secret) {
			t.Errorf("the redacted configuration shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{"token: (redacted)", "password: (redacted)", "max_tokens: 1234", "listen: 127.0.0.1:11341", "size: 10000", "token_file: \"\"", "zone: (redacted).zen.dq.spamhaus.net"} {
		if !strings.Contains(out, want) {
			t.Errorf("the redacted configuration lacks %q:\n%s", want, out)
		}
	}
	// Every section is there, as loaded.
	for _, section := range []string{"milter:", "limits:", "actions:", "blocklists:", "reputation:", "history:", "admin:"} {
		if !strings.Contains(out, "\n"+section) && !strings.HasPrefix(out, section) {
			t.Errorf("no %s section", section)
		}
	}
	// An empty secret stays empty (nothing to hide, and it says none is set).
	d, _ := Redacted(Default())
	if strings.Contains(string(d), "token: "+Redaction) || strings.Contains(string(d), "password: "+Redaction) {
		t.Errorf("defaults show a redacted token or password although none is set")
	}
	// A password in a URL.
	n := "redis://user:pw-789@127.0.0.1:6379/0"
	c.Admin.TokenFile = n
	y, _ = Redacted(c)
	if strings.Contains(string(y), "pw-789") || !strings.Contains(string(y), "user:") {
		t.Errorf("URL password shown: %s", y)
	}
}
