package dnsbl

import (
	_ "embed"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// defaultsYAML is the shipped list set; deploy/vigil.yaml carries the same
// lists with their comments (a test in cmd/vigil/config keeps them equal).
//
//go:embed defaults.yaml
var defaultsYAML []byte

// DefaultLists returns the built-in blocklists (the `blocklists:` of
// defaults.yaml). It panics if the embedded file is broken, which its test
// rules out.
func DefaultLists() []List {
	var cfg struct {
		Blocklists []List `yaml:"blocklists"`
		DNSBL      any    `yaml:"dnsbl"`
	}
	if err := yaml.Unmarshal(defaultsYAML, &cfg); err != nil {
		panic(fmt.Sprintf("dnsbl: embedded defaults.yaml: %v", err))
	}
	return cfg.Blocklists
}
