package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Redacted is the configuration as YAML, every key with its value as
// loaded, secrets replaced by "(redacted)": what the dashboard and
// GET /api/config show. A secret is the value of any key whose name says
// it is one (token, password, secret, ...), whatever section adds it, and
// the password part of any URL.
func Redacted(c Config) ([]byte, error) {
	var root yaml.Node
	if err := root.Encode(c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	redactNode(&root, "")
	out, err := yaml.Marshal(&root)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return out, nil
}

// Redaction is what a secret is shown as.
const Redaction = "(redacted)"

// secretKey: key names whose values are secrets (token, password,
// sentinel_password, ...; not token_file or max_tokens).
var secretKey = regexp.MustCompile(`(?i)(^|_)(token|password|passwd|secret|credentials?|private_key|api_key)$`)

func redactNode(n *yaml.Node, key string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c, key)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redactNode(n.Content[i+1], n.Content[i].Value)
		}
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return
		}
		if secretKey.MatchString(key) {
			n.Value, n.Tag, n.Style = Redaction, "!!str", 0
			return
		}
		// Spamhaus DQS puts the subscriber's key in the zone name:
		// <key>.zen.dq.spamhaus.net.
		if key == "zone" && strings.HasSuffix(strings.ToLower(strings.TrimSuffix(n.Value, ".")), ".dq.spamhaus.net") {
			if _, rest, ok := strings.Cut(n.Value, "."); ok {
				n.Value = Redaction + "." + rest
			}
			return
		}
		if strings.Contains(n.Value, "@") && strings.Contains(n.Value, "://") {
			if u, err := url.Parse(n.Value); err == nil && u.User != nil {
				if _, has := u.User.Password(); has {
					u.User = url.UserPassword(u.User.Username(), "REDACTED")
					n.Value = strings.Replace(u.String(), "REDACTED", Redaction, 1)
				}
			}
		}
	}
}
