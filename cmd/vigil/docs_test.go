package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/cmd/vigil/manual"
	"github.com/vigilmail/vigil/filters/sharedtest"
)

// repoRoot is the source tree the tests run in (cmd/vigil is two below).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod two levels up: %v", err)
	}
	return root
}

// configKeys lists every key of the configuration structure: its own
// walk, independent of the man page generator's, so that a key the
// generator skips fails the test.
func configKeys(t reflect.Type, path string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			configKeys(f.Type, path, out)
			continue
		}
		key := name
		if path != "" {
			key = path + "." + name
		}
		*out = append(*out, key)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && ft.NumField() > 0 && ft.Field(0).IsExported():
			configKeys(ft, key, out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			configKeys(ft.Elem(), key+"[]", out)
		}
	}
}

// renderMan renders a page with man -l, as an operator reads it, and fails
// on any warning groff gives.
func renderMan(t *testing.T, page []byte) string {
	t.Helper()
	man, err := exec.LookPath("man")
	if err != nil {
		sharedtest.Unavailable(t, "man is not installed (Debian package man-db; test.sh installs it): the rendered pages are not checked")
	}
	p := filepath.Join(t.TempDir(), "page")
	if err := os.WriteFile(p, page, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(man, "--warnings", "-l", p)
	cmd.Env = append(os.Environ(), "MANWIDTH=200", "MANPAGER=cat", "PAGER=cat", "LANG=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man -l: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man -l warns:\n%s", stderr.String())
	}
	// groff may print a hyphen or minus as U+2010 or U+2212.
	return strings.NewReplacer("\u2010", "-", "\u2212", "-").Replace(stdout.String())
}

func renderedDocs(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := renderDocs(repoRoot(t), manual.Page{Version: "1.2.3", Date: "2026-12-01"})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestManPages: vigil(8) documents every command and flag, vigil.yaml(5)
// every configuration key; a flag or key added without reaching the pages
// fails here.
func TestManPages(t *testing.T) {
	files := renderedDocs(t)
	unroff := strings.NewReplacer(`\-`, "-", `\e`, `\`, `\&`, "")
	check := func(t *testing.T, page string, want []string) {
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("the page lacks %q", w)
			}
		}
	}
	var flags []string
	for _, c := range commands {
		if c.hidden {
			continue
		}
		flags = append(flags, "vigil "+c.name)
		c.flagSet().VisitAll(func(f *flag.Flag) { flags = append(flags, "--"+f.Name) })
	}
	var keys []string
	configKeys(reflect.TypeOf(config.Config{}), "", &keys)
	if len(keys) < 100 {
		t.Fatalf("only %d configuration keys found: the walk is broken", len(keys))
	}

	t.Run("source", func(t *testing.T) {
		check(t, unroff.Replace(string(files["vigil.8"])), flags)
		check(t, unroff.Replace(string(files["vigil.yaml.5"])), keys)
	})
	t.Run("man -l vigil.8", func(t *testing.T) {
		page := renderMan(t, files["vigil.8"])
		check(t, page, append(flags, "VIGIL(8)", "EXIT STATUS", "vigil.yaml(5)"))
	})
	t.Run("man -l vigil.yaml.5", func(t *testing.T) {
		page := renderMan(t, files["vigil.yaml.5"])
		check(t, page, append(keys, "VIGIL.YAML(5)", "Default: 30d", "Default: 50MiB"))
		// The build machine's host name is not anyone's default.
		host, _ := os.Hostname()
		if host != "" && strings.Contains(page, "Default: "+host+".") {
			t.Errorf("the page shows this machine's host name %q as a default", host)
		}
	})
}

// TestBashCompletion runs the generated completion in bash.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "vigil")
	if err := os.WriteFile(script, renderedDocs(t)["vigil.bash-completion"], 0o644); err != nil {
		t.Fatal(err)
	}
	complete := func(words ...string) string {
		t.Helper()
		prog := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vigil 2>/dev/null; printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, append([]string{"-c", prog, "bash", script}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	tests := []struct {
		words []string
		want  string
	}{
		{[]string{"vigil", "ch"}, "check"},
		{[]string{"vigil", "d"}, "doctor"},
		{[]string{"vigil", "check", "--c"}, "--client-name\n--config"},
		{[]string{"vigil", "load", "--d"}, "--duration"},
		{[]string{"vigil", "doctor", "--config", ""}, ""}, // a FILE: bash's own file completion
		{[]string{"vigil", "load", "--addr", ""}, ""},     // a free value: nothing
	}
	for _, tt := range tests {
		if got := complete(tt.words...); got != tt.want {
			t.Errorf("%q: completions %q, want %q", tt.words, got, tt.want)
		}
	}
	if got := complete("vigil", ""); strings.Contains(got, "docs") || !strings.Contains(got, "flush-dns") {
		t.Errorf("command list %q: want every command but the hidden ones", got)
	}
}
