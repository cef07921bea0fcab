package config

import (
	"reflect"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Changed returns the keys whose values differ between a and b, as dotted
// paths of the YAML file ("dns.servers", "actions.reject",
// "scores.MISSING_MESSAGE_ID"), sorted. Lists compare whole
// ("blocklists"). It names keys, never values: some are secrets.
func Changed(a, b Config) []string {
	var out []string
	diffValues(asTree(a), asTree(b), "", &out)
	sort.Strings(out)
	return out
}

// asTree is c as the generic YAML tree it would be written as.
func asTree(c Config) any {
	raw, err := yaml.Marshal(c)
	if err != nil {
		return nil
	}
	var t any
	if err := yaml.Unmarshal(raw, &t); err != nil {
		return nil
	}
	return t
}

func diffValues(a, b any, path string, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if !reflect.DeepEqual(a, b) {
			*out = append(*out, path)
		}
		return
	}
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	for k := range keys {
		diffValues(am[k], bm[k], join(path, k), out)
	}
}
