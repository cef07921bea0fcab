package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// keyChecker walks a YAML node against the Go type it will decode into. It
// reports every key the type does not have and every scalar of the wrong
// type, each with its full dotted path and line ("milter.lisen: unknown
// key (line 2)", `actions.tag: "five": want a number (line 5)`): yaml.v3's
// own errors name the Go type instead of the key an operator wrote. It
// records the line of every key, for the validation errors that follow.
type keyChecker struct {
	errs  []error
	lines map[string]int
}

func (kc *keyChecker) fail(format string, a ...any) {
	kc.errs = append(kc.errs, fmt.Errorf(format, a...))
}

func (kc *keyChecker) check(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			kc.check(c, t, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	if path != "" {
		if _, ok := kc.lines[path]; !ok {
			kc.lines[path] = n.Line
		}
	}
	// Types that decode themselves: let them say what is wrong.
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) {
		if n.Tag == "!!null" {
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			kc.fail("%s: %s: %s (line %d)", pathOr(path), kindName(n), lineless(err), n.Line)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			kc.fail("%s: want a mapping, got %s (line %d)", pathOr(path), kindName(n), n.Line)
			return
		}
		fields := map[string]reflect.StructField{}
		collectFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				kc.fail("%s: unknown key (line %d)", join(path, k.Value), k.Line)
				continue
			}
			kc.lines[join(path, k.Value)] = k.Line
			kc.check(v, f.Type, join(path, k.Value))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			kc.fail("%s: want a mapping, got %s (line %d)", pathOr(path), kindName(n), n.Line)
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kc.lines[join(path, n.Content[i].Value)] = n.Content[i].Line
			kc.check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value))
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return
			}
			kc.fail("%s: want a list, got %s (line %d)", pathOr(path), kindName(n), n.Line)
			return
		}
		for i, c := range n.Content {
			kc.check(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Interface:
	default:
		if n.Kind != yaml.ScalarNode {
			kc.fail("%s: want %s, got %s (line %d)", pathOr(path), Describe(t), kindName(n), n.Line)
			return
		}
		if n.Tag == "!!null" {
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			kc.fail("%s: %s: want %s (line %d)", pathOr(path), kindName(n), Describe(t), n.Line)
		}
	}
}

var durationType = reflect.TypeOf(time.Duration(0))

// Describe says in words what a value of type t is: "a number", "an
// integer", "a duration such as ...", "a list of strings". Config errors say
// "want <Describe>"; the manual says "Type: <Describe>".
func Describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration such as 500ms, 10s, 5m or 2h"
	case t.Name() == "Duration" && t.Kind() == reflect.Int64:
		return "a duration such as 500ms, 10s, 5m, 2h or 30d"
	case t.Name() == "ByteSize":
		return "a size in bytes, or with a unit: 512KiB, 50MiB, 1GiB, 50MB"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Struct:
		return "a mapping"
	case reflect.Slice, reflect.Array:
		return "a list of " + plural(Describe(t.Elem()))
	case reflect.Map:
		return "a mapping of " + plural(Describe(t.Key())) + " to " + plural(Describe(t.Elem()))
	}
	return "a " + t.Kind().String()
}

// plural turns "a string" into "strings", "a mapping" into "mappings".
func plural(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "an "), "a ")
	word, rest, _ := strings.Cut(s, " ")
	if word == "true" {
		return "booleans"
	}
	if rest != "" {
		rest = " " + rest
	}
	return word + "s" + rest
}

// lineless drops the "line N: " a decoder put in front of its message: the
// line goes at the end, as in every other config error.
func lineless(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 && strings.Trim(rest[:i], "0123456789") == "" {
			return rest[i+2:]
		}
	}
	return msg
}

// lineOf finds the line of key, or of the nearest enclosing key that the
// file set ("blocklists[0].returns[\"x\"]" falls back to
// "blocklists[0].returns").
func lineOf(key string, lines map[string]int) int {
	for key != "" {
		if l, ok := lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i <= 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

// syntaxError gives a YAML syntax error the line where the file stops
// being YAML. yaml.v3 reports the line where the enclosing block started,
// or a 0-based line, depending on the error: wrong for an operator looking
// for the typo. The first line from which every longer prefix of the file
// fails to parse is the line to look at (a prefix cut inside a multi-line
// value fails too, but parses again once the value is complete).
func syntaxError(data []byte, err error) error {
	lines := strings.SplitAfter(string(data), "\n")
	bad := 0
	for k := len(lines); k >= 1; k-- {
		var n yaml.Node
		if yaml.Unmarshal([]byte(strings.Join(lines[:k], "")), &n) == nil {
			break
		}
		bad = k
	}
	if bad == 0 {
		return err
	}
	return fmt.Errorf("line %d: %s", bad, lineless(err))
}

func collectFields(t reflect.Type, out map[string]reflect.StructField) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			collectFields(ft, out)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOr(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
