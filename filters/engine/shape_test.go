package engine

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/auth"
	"github.com/vigilmail/vigil/filters/bayes"
	"github.com/vigilmail/vigil/filters/content"
	"github.com/vigilmail/vigil/filters/dnsbl"
	"github.com/vigilmail/vigil/filters/follow"
	"github.com/vigilmail/vigil/filters/lists"
	"github.com/vigilmail/vigil/filters/nameservers"
	"github.com/vigilmail/vigil/filters/reputation"
	"github.com/vigilmail/vigil/filters/store"
)

var update = flag.Bool("update", false, "rewrite the generated symbol tables (docs/symbols.md and the check READMEs)")

// filtersDir is the filters/ directory, the parent of this package's.
const filtersDir = ".."

// readmeSections are the sections every check's README has, in this order.
var readmeSections = []string{"## Config keys", "## Symbols", "## Metrics", "## Examples"}

// symbolLike is what a symbol name looks like in source: upper-case words
// joined by '_'.
var symbolLike = regexp.MustCompile(`^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$`)

// checkPackage is what the shape test reads of one check package.
type checkPackage struct {
	dir      string
	name     string // the Name constant
	problems []string
}

// findCheckPackages returns the directories under root of the packages
// that declare a type Check with a Run method: the checks.
func findCheckPackages(t *testing.T, root string) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" || d.Name() == "internal" {
			return filepath.SkipDir
		}
		files, _ := parseDir(path)
		if hasRunMethod(files) {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	return dirs
}

func parseDir(dir string) ([]*ast.File, error) {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	fset := token.NewFileSet()
	var files []*ast.File
	for _, p := range matches {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func hasRunMethod(files []*ast.File) bool {
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Name.Name == "Run" && receiverIs(fd, "Check") {
				return true
			}
		}
	}
	return false
}

func receiverIs(fd *ast.FuncDecl, typ string) bool {
	if fd.Recv == nil || len(fd.Recv.List) != 1 {
		return false
	}
	t := fd.Recv.List[0].Type
	if st, ok := t.(*ast.StarExpr); ok {
		t = st.X
	}
	id, ok := t.(*ast.Ident)
	return ok && id.Name == typ
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

func isSelector(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && isIdent(s.X, pkg) && s.Sel.Name == name
}

// inspectShape checks the package in dir against the shape every check
// has: a Name constant, `var _ filters.Check = (*Check)(nil)`,
// `func New(cfg Config, deps Deps) (*Check, error)`, its symbols declared
// with filters.Declare (and no symbol-like string it does not declare),
// and a README with the sections Config keys, Symbols, Metrics, Examples.
func inspectShape(dir string) checkPackage {
	cp := checkPackage{dir: dir}
	bad := func(format string, args ...any) { cp.problems = append(cp.problems, fmt.Sprintf(format, args...)) }
	files, err := parseDir(dir)
	if err != nil {
		bad("parse: %v", err)
		return cp
	}
	var assertion, constructor, declares bool
	var literals []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.GenDecl:
				for _, sp := range n.Specs {
					vs, ok := sp.(*ast.ValueSpec)
					if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 {
						continue
					}
					switch {
					case n.Tok == token.CONST && vs.Names[0].Name == "Name":
						if lit, ok := vs.Values[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							cp.name, _ = strconv.Unquote(lit.Value)
						}
					case n.Tok == token.VAR && vs.Names[0].Name == "_" && isSelector(vs.Type, "filters", "Check"):
						// (*Check)(nil)
						if call, ok := vs.Values[0].(*ast.CallExpr); ok && len(call.Args) == 1 && isIdent(call.Args[0], "nil") {
							if p, ok := call.Fun.(*ast.ParenExpr); ok {
								if st, ok := p.X.(*ast.StarExpr); ok && isIdent(st.X, "Check") {
									assertion = true
								}
							}
						}
					}
				}
			case *ast.FuncDecl:
				if n.Name.Name == "New" && n.Recv == nil && isConstructor(n.Type) {
					constructor = true
				}
			case *ast.CallExpr:
				if isSelector(n.Fun, "filters", "Declare") {
					declares = true
				}
			case *ast.BasicLit:
				if s, err := strconv.Unquote(n.Value); err == nil && n.Kind == token.STRING && symbolLike.MatchString(s) {
					literals = append(literals, s)
				}
			}
			return true
		})
	}
	if cp.name == "" {
		bad(`no const Name = "<check name>"`)
	}
	if !assertion {
		bad("no var _ filters.Check = (*Check)(nil)")
	}
	if !constructor {
		bad("no func New(cfg Config, deps Deps) (*Check, error)")
	}
	if !declares {
		bad("its symbols are not declared with filters.Declare")
	}
	if spec, ok := declared(cp.name); ok {
		for _, l := range literals {
			if !declaresSymbol(spec, l) {
				bad("%q looks like a symbol it reports but is not declared", l)
			}
		}
	} else if cp.name != "" {
		bad("check %q is not in filters.Checks()", cp.name)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		bad("no README.md")
		return cp
	}
	last := -1
	for _, sec := range readmeSections {
		i := sectionIndex(string(readme), sec)
		switch {
		case i < 0:
			bad("README.md has no %q section", sec)
		case i < last:
			bad("README.md: %q is out of order (want %s)", sec, strings.Join(readmeSections, ", "))
		default:
			last = i
		}
	}
	return cp
}

func isConstructor(ft *ast.FuncType) bool {
	if ft.Params == nil || len(ft.Params.List) != 2 || ft.Results == nil || len(ft.Results.List) != 2 {
		return false
	}
	p := ft.Params.List
	if len(p[0].Names) != 1 || len(p[1].Names) != 1 || !isIdent(p[0].Type, "Config") || !isIdent(p[1].Type, "Deps") {
		return false
	}
	r := ft.Results.List
	st, ok := r[0].Type.(*ast.StarExpr)
	return ok && isIdent(st.X, "Check") && isIdent(r[1].Type, "error")
}

// sectionIndex is the offset of the first line that is heading, -1 when
// there is none.
func sectionIndex(doc, heading string) int {
	off := 0
	for _, l := range strings.SplitAfter(doc, "\n") {
		if strings.TrimSpace(l) == heading {
			return off
		}
		off += len(l)
	}
	return -1
}

func declared(name string) (filters.CheckSpec, bool) {
	for _, c := range filters.Checks() {
		if c.Name == name {
			return c, true
		}
	}
	return filters.CheckSpec{}, false
}

func declaresSymbol(spec filters.CheckSpec, name string) bool {
	if name == filters.ErrorSymbol(spec.Name) {
		return true
	}
	for _, s := range spec.Symbols {
		if s.Name == name {
			return true
		}
	}
	return false
}

// TestCheckShape is the presubmit of the check layout: every check package
// under filters/ has the same shape, every one is declared in the
// catalogue, and the engine wires every declared check.
func TestCheckShape(t *testing.T) {
	dirs := findCheckPackages(t, filtersDir)
	var names []string
	for _, dir := range dirs {
		cp := inspectShape(dir)
		for _, p := range cp.problems {
			t.Errorf("%s: %s", dir, p)
		}
		names = append(names, cp.name)
	}
	sort.Strings(names)
	var specs []string
	for _, c := range filters.Checks() {
		specs = append(specs, c.Name)
	}
	if !slices.Equal(names, specs) {
		t.Errorf("check packages %v, declared checks %v", names, specs)
	}
	var wired []string
	for _, cs := range fullEngine(t).Pipeline().Checks() {
		wired = append(wired, cs...)
	}
	sort.Strings(wired)
	if !slices.Equal(wired, specs) {
		t.Errorf("the engine wires %v, declared checks are %v", wired, specs)
	}
	if len(specs) < 11 {
		t.Errorf("only %d checks found: %v", len(specs), specs)
	}
}

// TestCheckShapeCatchesBreakage: the shape test fails a package that
// loses a README section, its interface assertion, its constructor or the
// declaration of a symbol it reports.
func TestCheckShapeCatchesBreakage(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(filtersDir, "headers", "headers.go"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(filtersDir, "headers", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		src, readme func(string) string
		want        string
	}{
		{"intact", nil, nil, ""},
		{"no Metrics section", nil, func(s string) string { return strings.Replace(s, "## Metrics", "## Counters", 1) }, `no "## Metrics" section`},
		{"no interface assertion", func(s string) string {
			return strings.Replace(s, "var _ filters.Check = (*Check)(nil)", "", 1)
		}, nil, "no var _ filters.Check"},
		{"another constructor", func(s string) string {
			return strings.Replace(s, "func New(cfg Config, deps Deps) (*Check, error)", "func New() (*Check, error)", 1)
		}, nil, "no func New(cfg Config, deps Deps)"},
		{"an undeclared symbol", func(s string) string {
			return strings.Replace(s, `Spec.Symbol(SymMissingSubject, "")`, `filters.Symbol{Name: "MISSING_TO"}`, 1)
		}, nil, `"MISSING_TO" looks like a symbol`},
		{"no Name constant", func(s string) string {
			return strings.Replace(s, `const Name = "headers"`, `const name = "headers"`, 1)
		}, nil, "no const Name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, r := string(src), string(readme)
			if tc.src != nil {
				s = tc.src(s)
			}
			if tc.readme != nil {
				r = tc.readme(r)
			}
			os.WriteFile(filepath.Join(dir, "headers.go"), []byte(s), 0o644)
			os.WriteFile(filepath.Join(dir, "README.md"), []byte(r), 0o644)
			cp := inspectShape(dir)
			got := strings.Join(cp.problems, "; ")
			if tc.want == "" && got != "" {
				t.Fatalf("problems in an intact copy: %s", got)
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("problems %q, want one with %q", got, tc.want)
			}
		})
	}
}

// fullEngine builds the engine with every check on (no message is judged:
// nothing is asked of the resolver).
func fullEngine(t *testing.T) *Engine {
	t.Helper()
	dcfg := dnsrep.DefaultConfig()
	dcfg.Servers = []string{"127.0.0.1:9"}
	res, err := dnsrep.New(dcfg)
	if err != nil {
		t.Fatal(err)
	}
	fcfg := follow.DefaultConfig()
	fcfg.Enabled = true
	bcfg := bayes.DefaultConfig()
	bcfg.Enabled = true
	e, err := New(Options{
		Policy:      filters.Policy{Tag: 5, Reject: 15},
		Pipeline:    filters.NewPipeline(time.Second, 2*time.Second, nil),
		AuthservID:  "mx.example.test",
		Resolver:    res,
		Blocklists:  dnsbl.DefaultLists(),
		Budgets:     dnsbl.DefaultBudgets(),
		Nameservers: nameservers.DefaultConfig(),
		Auth:        auth.DefaultConfig(),
		Content:     content.DefaultConfig(),
		Store:       store.NewMemory(),
		Reputation:  reputation.DefaultConfig(),
		Follow:      fcfg,
		Bayes:       bcfg,
		Lists:       []lists.List{{Name: "EXAMPLE_ALLOW", Match: lists.MatchIP, Entries: []string{"192.0.2.0/24"}, Action: filters.ListAllow}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Generated symbol tables: docs/symbols.md and the Symbols section of
// every check's README, between these markers.
const (
	tableBegin = "<!-- symbols: generated from the check's declaration by `go test ./filters/engine -run Docs -update` -->"
	tableEnd   = "<!-- end of generated symbols -->"
)

// symbolTable renders the symbols of one check, in declaration order,
// with its error symbol last.
func symbolTable(c filters.CheckSpec) string {
	var b strings.Builder
	b.WriteString("| symbol | score | when |\n|---|---|---|\n")
	for _, s := range c.Symbols {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, s.ScoreText(), s.Doc)
	}
	for _, s := range filters.Catalogue(nil) {
		if s.Name == filters.ErrorSymbol(c.Name) {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, s.ScoreText(), s.Doc)
		}
	}
	return b.String()
}

// symbolsDoc renders docs/symbols.md.
func symbolsDoc() string {
	var b strings.Builder
	b.WriteString("# Symbols\n\n")
	b.WriteString("Every symbol Vigil can report, with the score it proposes and when. The score of a\n")
	b.WriteString("symbol is overridden by name in `scores:` of the configuration; a blocklist's symbols are\n")
	b.WriteString("named after its `name`. This file is generated from the checks' declarations\n")
	b.WriteString("(`filters.Declare`, collected by `filters.Catalogue`) by\n")
	b.WriteString("`go test ./filters/engine -run Docs -update`; a test fails when it differs.\n\n")
	b.WriteString("The score shown is the hand-set one. With `weights.enabled` (the default) every symbol's\n")
	b.WriteString("weight is also learned from feedback and, once enough reports are learned, used instead\n")
	b.WriteString("(`filters/weights`), except those marked \"never learned\": they report Vigil's own state\n")
	b.WriteString("(an error, an outage, a budget), not the message. A score given in `scores:` is never\n")
	b.WriteString("replaced by a learned one, and a symbol that forces an action still forces it.\n\n")
	b.WriteString("## How the message arrived\n\n")
	b.WriteString("| symbol | score | when |\n|---|---|---|\n")
	for _, s := range filters.Catalogue(nil) {
		if s.Check == "" {
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Name, s.ScoreText(), s.Doc)
		}
	}
	for _, c := range filters.Checks() {
		fmt.Fprintf(&b, "\n## %s\n\n", c.Name)
		if c.Config != "" {
			fmt.Fprintf(&b, "Configured in `%s`.\n\n", c.Config)
		}
		b.WriteString(symbolTable(c))
	}
	return b.String()
}

// checkDirs maps each check's name to its package directory.
func checkDirs(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, dir := range findCheckPackages(t, filtersDir) {
		out[inspectShape(dir).name] = dir
	}
	return out
}

// TestDocsSymbols keeps docs/symbols.md and the Symbols sections of the
// check READMEs equal to the catalogue.
func TestDocsSymbols(t *testing.T) {
	doc := filepath.Join(filtersDir, "..", "docs", "symbols.md")
	want := symbolsDoc()
	if *update {
		if err := os.WriteFile(doc, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/symbols.md differs from the catalogue: run go test ./filters/engine -run Docs -update")
	}
	dirs := checkDirs(t)
	for _, c := range filters.Checks() {
		path := filepath.Join(dirs[c.Name], "README.md")
		readme, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		s := string(readme)
		i, j := strings.Index(s, tableBegin), strings.Index(s, tableEnd)
		if i < 0 || j < i {
			t.Errorf("%s: no generated symbol table (markers %q ... %q in its Symbols section)", path, tableBegin, tableEnd)
			continue
		}
		fresh := s[:i] + tableBegin + "\n\n" + symbolTable(c) + "\n" + s[j:]
		if *update && fresh != s {
			if err := os.WriteFile(path, []byte(fresh), 0o644); err != nil {
				t.Fatal(err)
			}
			s = fresh
		}
		if s != fresh {
			t.Errorf("%s: the symbol table differs from the declaration: run go test ./filters/engine -run Docs -update", path)
		}
		if sym := sectionIndex(s, "## Symbols"); sym < 0 || i < sym || (sectionIndex(s, "## Metrics") >= 0 && i > sectionIndex(s, "## Metrics")) {
			t.Errorf("%s: the generated table is not in the Symbols section", path)
		}
	}
}

// TestSymbols: the catalogue a configuration can name has every check's
// symbols, the error symbols and the configured lists' families.
func TestSymbols(t *testing.T) {
	bl := []dnsbl.List{{Name: "EXAMPLE_BL", Zone: "bl.example", Check: dnsbl.KindIP, Score: 1}}
	own := []lists.List{{Name: "PARTNERS", Match: lists.MatchFromDomain, Entries: []string{"partner.example"}, Action: filters.ListAllow}}
	got := map[string]filters.SymbolSpec{}
	for _, s := range Symbols(bl, own...) {
		if _, dup := got[s.Name]; dup {
			t.Errorf("%s twice", s.Name)
		}
		got[s.Name] = s
	}
	for _, name := range []string{"MISSING_MESSAGE_ID", "SPF_PASS", "DMARC_POLICY_REJECT", "REP_NS_SPAM", "BAYES_SPAM",
		"FOLLOW_LOGIN_FORM", "NAMESERVERS_UNKNOWN", "CONTENT_HIDDEN_TEXT", "EXAMPLE_BL", "EXAMPLE_BL_UNKNOWN",
		"EXAMPLE_BL_ERROR", "EXAMPLE_BL_UNHEALTHY", "DNSBL_BUDGET", "DNSBL_ERROR", "HEADERS_ERROR", "MESSAGE_TOO_BIG",
		"PARTNERS", "LISTS_ERROR"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s missing from the catalogue", name)
		}
	}
	if s := got["SPF_FAIL"]; s.Score != 3 || s.Check != "spf" || s.Doc == "" {
		t.Errorf("SPF_FAIL = %+v", s)
	}
	if _, ok := got["<LIST>"]; ok {
		t.Error("placeholder left in a catalogue with lists")
	}
	if _, ok := filters.LookupSymbol("EXAMPLE_BL", map[string][]string{dnsbl.Placeholder: {"EXAMPLE_BL"}}); !ok {
		t.Error("LookupSymbol does not expand the placeholder")
	}
}
