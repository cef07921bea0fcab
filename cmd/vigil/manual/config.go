package manual

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilmail/vigil/cmd/vigil/config"
)

// Key is one configuration key as vigil.yaml(5) documents it.
type Key struct {
	// Path is the dotted key, with [] for the entries of a list:
	// "milter.listen", "blocklists[].zone".
	Path string
	// Type says what the value is: "a duration such as ...", "a list of
	// strings" (config.Describe).
	Type string
	// Default is the built-in default as YAML; empty for the fields of list
	// entries (each entry's doc says what an omitted field means).
	Default string
	// Doc is the comment on the Go field, with Go names replaced by keys.
	Doc string
	// Section is set for keys that hold further keys.
	Section bool
}

// Source reads the doc comments of struct fields from the Go source of the
// module at Root, whose import path is Module.
type Source struct {
	Root, Module string
	// Defaults replaces the default shown for keys whose built-in default
	// depends on the host ("auth.authserv_id": "the host name"), so the
	// page does not show the build machine's.
	Defaults map[string]string
	pkgs     map[string]map[string]*typeDoc // import path -> type name
}

type typeDoc struct {
	doc    string
	fields map[string]string // Go field name -> doc (or line comment)
	order  []string
}

func (s *Source) typeDoc(t reflect.Type) (*typeDoc, error) {
	if s.pkgs == nil {
		s.pkgs = map[string]map[string]*typeDoc{}
	}
	pkg := t.PkgPath()
	if _, ok := s.pkgs[pkg]; !ok {
		rel, ok := strings.CutPrefix(pkg, s.Module)
		if !ok {
			s.pkgs[pkg] = nil // outside the module (time.Duration): no docs
		} else {
			types, err := parsePackage(filepath.Join(s.Root, filepath.FromSlash(strings.TrimPrefix(rel, "/"))))
			if err != nil {
				return nil, err
			}
			s.pkgs[pkg] = types
		}
	}
	return s.pkgs[pkg][t.Name()], nil
}

// parsePackage reads the struct types of the non-test Go files in dir.
func parsePackage(dir string) (map[string]*typeDoc, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("manual: %w", err)
	}
	out := map[string]*typeDoc{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("manual: %w", err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				td := &typeDoc{fields: map[string]string{}}
				if ts.Doc != nil {
					td.doc = ts.Doc.Text()
				} else if gd.Doc != nil && len(gd.Specs) == 1 {
					td.doc = gd.Doc.Text()
				}
				if st, ok := ts.Type.(*ast.StructType); ok {
					for _, fld := range st.Fields.List {
						doc := ""
						if fld.Doc != nil {
							doc = fld.Doc.Text()
						} else if fld.Comment != nil {
							doc = fld.Comment.Text()
						}
						for _, n := range fld.Names {
							td.fields[n.Name] = doc
							td.order = append(td.order, n.Name)
						}
					}
				}
				out[ts.Name.Name] = td
			}
		}
	}
	return out, nil
}

// Keys walks cfg, the configuration holding its built-in defaults, and
// returns every key in file order, each documented with the comment on
// its Go field.
func Keys(cfg any, src *Source) ([]Key, error) {
	var out []Key
	v := reflect.ValueOf(cfg)
	err := src.walk("", v.Type(), v, &out)
	return out, err
}

var (
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(time.Duration(0))
)

func (s *Source) walk(path string, t reflect.Type, v reflect.Value, out *[]Key) error {
	td, err := s.typeDoc(t)
	if err != nil {
		return err
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		var fv reflect.Value
		if v.IsValid() {
			fv = v.Field(i)
		}
		if strings.Contains(opts, "inline") {
			if err := s.walk(path, f.Type, fv, out); err != nil {
				return err
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := Key{Path: join(path, name), Doc: fieldDoc(td, f.Name)}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
			if fv.IsValid() {
				fv = fv.Elem() // invalid for a nil pointer: no default shown
			}
		}
		if key.Doc == "" && ft.Kind() == reflect.Struct {
			if d, _ := s.typeDoc(ft); d != nil {
				key.Doc = d.doc
			}
		}
		key.Doc = keyNames(key.Doc, t, td)
		key.Type = config.Describe(ft)
		switch {
		case scalar(ft):
			if d, ok := s.Defaults[key.Path]; ok {
				key.Default = d
			} else if fv.IsValid() {
				key.Default = yamlDefault(fv)
			}
			*out = append(*out, key)
		case ft.Kind() == reflect.Struct:
			key.Section = true
			*out = append(*out, key)
			if err := s.walk(key.Path, ft, fv, out); err != nil {
				return err
			}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			if fv.IsValid() {
				key.Default = entryNames(fv)
			}
			key.Section = true
			*out = append(*out, key)
			if err := s.walk(key.Path+"[]", ft.Elem(), reflect.Value{}, out); err != nil {
				return err
			}
		default: // lists and maps of scalars
			if fv.IsValid() {
				key.Default = yamlDefault(fv)
			}
			*out = append(*out, key)
		}
	}
	return nil
}

// fieldDoc is the field's comment; a field without one shares the comment
// of the field before it when that comment names it ("MinSpam and MinHam
// are ...").
func fieldDoc(td *typeDoc, name string) string {
	if td == nil {
		return ""
	}
	if d := td.fields[name]; d != "" {
		return d
	}
	for i, n := range td.order {
		if n == name && i > 0 {
			prev := td.fields[td.order[i-1]]
			if regexp.MustCompile(`\b` + name + `\b`).MatchString(prev) {
				return prev
			}
		}
	}
	return ""
}

var (
	goRef        = regexp.MustCompile(`\s*\((?:see )?[a-z]+\.[A-Z]\w*\)`)
	sectionIntro = regexp.MustCompile(`^\S+ is the [\w.]+:? section[.:]?\s*`)
)

// keyNames rewrites a field comment for operators: the Go names of the
// struct's fields become their YAML keys where the comment uses them as
// names (at its start, or CamelCase anywhere, never after a dot), "(pkg.Type)"
// references go, and a bare "X is the x: section." says nothing.
func keyNames(doc string, t reflect.Type, td *typeDoc) string {
	doc = strings.Join(strings.Fields(goRef.ReplaceAllString(doc, "")), " ")
	if td == nil || doc == "" {
		return doc
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		camel := strings.ToUpper(f.Name) != f.Name
		re := regexp.MustCompile(`(^|[^.\w])(` + f.Name + `)\b`)
		var b strings.Builder
		last := 0
		for _, m := range re.FindAllStringSubmatchIndex(doc, -1) {
			start, end := m[4], m[5]
			if !camel && start > 0 {
				continue // "DNS" in prose stays DNS
			}
			b.WriteString(doc[last:start])
			b.WriteString(name)
			last = end
		}
		b.WriteString(doc[last:])
		doc = b.String()
	}
	if rest := sectionIntro.ReplaceAllString(doc, ""); rest != doc {
		if rest == "" {
			return ""
		}
		return strings.ToUpper(rest[:1]) + rest[1:]
	}
	return doc
}

func scalar(t reflect.Type) bool {
	if reflect.PointerTo(t).Implements(unmarshalerType) || t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array, reflect.Map:
		return false
	}
	return true
}

// yamlDefault renders a value as one line of flow-style YAML, durations
// and sizes the way an operator writes them (30d, 10m, 50MiB).
func yamlDefault(v reflect.Value) string {
	switch t := v.Type(); {
	case t == durationType || t.Name() == "Duration" && t.Kind() == reflect.Int64:
		return shortDuration(time.Duration(v.Int()))
	case t.Name() == "ByteSize" && t.Kind() == reflect.Int64:
		return shortSize(v.Int())
	}
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		return fmt.Sprint(v.Interface())
	}
	flow(&n)
	b, err := yaml.Marshal(&n)
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return strings.TrimSpace(string(b))
}

// shortDuration writes 720h as 30d and 1h0m0s as 1h.
func shortDuration(d time.Duration) string {
	const day = 24 * time.Hour
	if d >= day && d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// shortSize writes whole KiB, MiB and GiB with their unit.
func shortSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d%s", n/u.size, u.name)
		}
	}
	return fmt.Sprint(n)
}

func flow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flow(c)
	}
}

// entryNames summarises a default list of mappings by the entries' names.
func entryNames(v reflect.Value) string {
	if v.Len() == 0 {
		return "[]"
	}
	var names []string
	for i := 0; i < v.Len(); i++ {
		e := v.Index(i)
		if f := e.FieldByName("Name"); f.IsValid() && f.Kind() == reflect.String {
			name := f.String()
			if m := e.MethodByName("IsEnabled"); m.IsValid() && m.Type().NumIn() == 0 && m.Type().NumOut() == 1 {
				if on := m.Call(nil)[0]; on.Kind() == reflect.Bool && !on.Bool() {
					name += " (off)"
				}
			}
			names = append(names, name)
		}
	}
	if len(names) == v.Len() {
		return fmt.Sprintf("%d entries: %s", v.Len(), strings.Join(names, ", "))
	}
	return fmt.Sprintf("%d entries", v.Len())
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// WriteVigilYAML5 writes vigil.yaml(5) from the keys.
func WriteVigilYAML5(w io.Writer, keys []Key, p Page) error {
	header(w, "vigil.yaml", "5", p)
	fmt.Fprint(w, ".SH NAME\nvigil.yaml \\- configuration of the Vigil mail filter\n")
	fmt.Fprint(w, ".SH SYNOPSIS\n.I /etc/vigil/vigil.yaml\n")
	fmt.Fprint(w, ".SH DESCRIPTION\n")
	paragraphs(w, description5)
	fmt.Fprint(w, ".SH KEYS\n")
	typeLine := func(k Key) string {
		line := "Type: " + roff(k.Type) + "."
		if k.Default != "" {
			line += " Default: \\fB" + roff(k.Default) + "\\fR."
		}
		return line
	}
	for _, k := range keys {
		if !strings.ContainsAny(k.Path, ".[") {
			// A top-level key is a subsection: its doc, then its keys.
			fmt.Fprintf(w, ".SS %s\n", roff(k.Path))
			paragraphs(w, k.Doc)
			if !k.Section || k.Default != "" {
				fmt.Fprintf(w, ".PP\n%s\n", typeLine(k))
			}
			continue
		}
		fmt.Fprintf(w, ".TP\n.B %s\n", roff(k.Path))
		if k.Doc != "" {
			fmt.Fprintf(w, "%s\n.br\n", roff(k.Doc))
		}
		fmt.Fprintf(w, "%s\n", typeLine(k))
	}
	fmt.Fprint(w, ".SH EXAMPLES\nA trial: judge everything, change nothing but the headers, and log what would have happened.\n.PP\n.nf\n.RS\n")
	fmt.Fprint(w, roff(example5))
	fmt.Fprint(w, "\n.RE\n.fi\n")
	fmt.Fprint(w, ".SH FILES\n.TP\n.I /etc/vigil/vigil.yaml\nthe packaged daemon's configuration (a conffile: upgrades keep local changes)\n")
	fmt.Fprint(w, ".TP\n.I /usr/share/doc/vigil/examples/vigil.yaml\nevery key with its built-in default, commented\n")
	fmt.Fprint(w, ".SH SEE ALSO\n.BR vigil (8)\n")
	return nil
}

const description5 = `The configuration of vigil(8) is one YAML file, read by every command given --config FILE. Every key is optional: a key left out keeps its built-in default, and vigil serve without --config runs on the defaults alone. The packaged /etc/vigil/vigil.yaml differs from the defaults in three places: policy.dry_run is on, follow.enabled is off, and auth.authserv_id is left to default to the host name.

Unknown keys, values of the wrong type and invalid values are errors that name the key, the value and the line, for example: config: /etc/vigil/vigil.yaml: actions.tag: "five": want a number (line 12). Symbol names under scores must be symbols Vigil can report (the checks' symbols, their CHECK_ERROR symbols, and the names of the configured blocklists with their suffixes); a misspelt one is an error that suggests the nearest known symbol.

vigil serve re-reads the file on SIGHUP; a file with errors is refused and the running configuration kept. The listen address, limits and the reputation store change only on restart. vigil doctor --config FILE checks a file before it goes live.`

const example5 = `milter:
  listen: "inet:127.0.0.1:11340"
dns:
  servers: ["127.0.0.1:53"]   # a local recursive resolver
actions:
  tag: 5
  reject: 15
policy:
  dry_run: true
scores:
  SPAMHAUS_ZEN: 4.0`
