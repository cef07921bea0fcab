package config

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// movedKeys are keys that moved to another section. The old place keeps
// working with a warning, so an upgrade never turns a running
// configuration into an error. keep: the key also still means something
// at its old place (it is copied, not moved).
var movedKeys = []struct {
	from, to, key string
	keep          bool
}{
	// The nameservers check has its own section; its bounds used to be
	// in dnsbl:, where max_domains bounded both checks.
	{"dnsbl", "nameservers", "max_ns_per_domain", false},
	{"dnsbl", "nameservers", "max_addrs_per_ns", false},
	{"dnsbl", "nameservers", "max_domains", true},
}

// moveDeprecated rewrites the YAML tree so that each moved key found at its
// old place is at its new one (unless the new place sets it already), and
// returns a warning for each.
func moveDeprecated(root *yaml.Node) []string {
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil
	}
	var warnings []string
	for _, mk := range movedKeys {
		from := mapping(doc, mk.from)
		if from == nil {
			continue
		}
		i := keyIndex(from, mk.key)
		if i < 0 {
			continue
		}
		k, v := from.Content[i], from.Content[i+1]
		to := mapping(doc, mk.to)
		if to == nil {
			to = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: mk.to}, to)
		}
		if keyIndex(to, mk.key) < 0 {
			to.Content = append(to.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: mk.key, Line: k.Line}, v)
			if mk.keep {
				warnings = append(warnings, fmt.Sprintf("%s.%s (line %d) now bounds only its own section; it also sets %s.%s for now: set %s.%s instead (deprecated)",
					mk.from, mk.key, k.Line, mk.to, mk.key, mk.to, mk.key))
			} else {
				warnings = append(warnings, fmt.Sprintf("%s.%s (line %d) is deprecated: it moved to %s.%s", mk.from, mk.key, k.Line, mk.to, mk.key))
			}
		} else if !mk.keep {
			warnings = append(warnings, fmt.Sprintf("%s.%s (line %d) is deprecated and ignored: %s.%s is set", mk.from, mk.key, k.Line, mk.to, mk.key))
		}
		if !mk.keep {
			from.Content = append(from.Content[:i], from.Content[i+2:]...)
		}
	}
	return warnings
}

// mapping returns the mapping value of key in m, nil when absent or not a
// mapping.
func mapping(m *yaml.Node, key string) *yaml.Node {
	i := keyIndex(m, key)
	if i < 0 || m.Content[i+1].Kind != yaml.MappingNode {
		return nil
	}
	return m.Content[i+1]
}

func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}
