package config

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// packagedHeader opens the configuration a package installs.
const packagedHeader = `# /etc/vigil/vigil.yaml: the configuration of the packaged Vigil daemon
# (vigil serve --config /etc/vigil/vigil.yaml, as the user vigil).
#
# It shows every key with its built-in default, with three changes that make
# a fresh install safe: policy.dry_run is true (Vigil adds its headers and
# logs what it would have done, and rejects nothing), follow.enabled is false
# (no outbound HTTP to links in mail), and auth.authserv_id is left to default
# to this host's name. Go live step by step: the README's go-live guide and
# vigil.yaml(5). Check a change with: vigil doctor --config /etc/vigil/vigil.yaml
# Then reload the daemon (SIGHUP); a file with errors is refused.
#
`

// Packaged turns the example configuration (every key at its default, link
// following shown on) into the one a package installs: dry run on, link
// following off, the example authserv-id commented out. It edits the lines
// in place, so that every comment of the example stays, and fails when the
// example no longer has the lines it edits.
func Packaged(example []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(example, &root); err != nil {
		return nil, fmt.Errorf("config: packaged: %w", err)
	}
	lines := strings.Split(string(example), "\n")
	edits := []struct {
		path, want, with, note string
		comment                bool
	}{
		{path: "policy.dry_run", want: "false", with: "true", note: "packaged: a trial until you have watched the would-be actions"},
		{path: "follow.enabled", want: "true", with: "false", note: "packaged: off; the built-in default"},
		{path: "auth.authserv_id", comment: true},
	}
	for _, e := range edits {
		key, val := lookupNode(&root, e.path)
		if key == nil {
			return nil, fmt.Errorf("config: packaged: the example has no %s", e.path)
		}
		i := key.Line - 1
		if e.comment {
			lines[i] = lines[i][:key.Column-1] + "# " + lines[i][key.Column-1:]
			continue
		}
		if val.Value != e.want || val.Line != key.Line {
			return nil, fmt.Errorf("config: packaged: %s is %q in the example, want %q on its own line", e.path, val.Value, e.want)
		}
		lines[i] = lines[i][:val.Column-1] + e.with + "  # " + e.note
	}
	var b bytes.Buffer
	b.WriteString(packagedHeader)
	b.WriteString(strings.Join(lines, "\n"))
	return b.Bytes(), nil
}

// lookupNode finds the key and value nodes of a dotted path of mappings.
func lookupNode(n *yaml.Node, path string) (key, val *yaml.Node) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	head, rest, more := strings.Cut(path, ".")
	if n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != head {
			continue
		}
		if !more {
			return n.Content[i], n.Content[i+1]
		}
		return lookupNode(n.Content[i+1], rest)
	}
	return nil, nil
}
