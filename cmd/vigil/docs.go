package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/cmd/vigil/manual"
)

type docsOpts struct{ src, version, date string }

func (o *docsOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.src, "src", ".", "the source tree (`DIR`) whose field comments document the configuration")
	fs.StringVar(&o.version, "version", "", "the `VERSION` the pages name (default: this binary's)")
	fs.StringVar(&o.date, "date", "", "the `DATE` of the pages, YYYY-MM-DD (default: the commit time, else today)")
}

// docFiles are the files `vigil docs DIR` writes.
var docFiles = []string{"vigil.8", "vigil.yaml.5", "vigil.bash-completion", "vigil.yaml"}

// cmdDocs writes the man pages, the bash completion and the packaged
// configuration into a directory, for deploy/debian/build.sh. It needs the
// source tree: the configuration's documentation is the comments on the
// fields of its Go structure.
func cmdDocs(args []string, stdout io.Writer) error {
	var o docsOpts
	fs := newFlagSet("docs")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("docs: give the output directory")
	}
	out := fs.Arg(0)
	page := manual.Page{Version: o.version, Date: o.date}
	bi := readBuildInfo()
	if page.Version == "" {
		page.Version = bi.Version
	}
	if page.Date == "" {
		page.Date = time.Now().UTC().Format(time.DateOnly)
		if t, err := time.Parse(time.RFC3339, bi.Time); err == nil {
			page.Date = t.UTC().Format(time.DateOnly)
		}
	}
	files, err := renderDocs(o.src, page)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	for _, name := range docFiles {
		if err := os.WriteFile(filepath.Join(out, name), files[name], 0o644); err != nil {
			return fmt.Errorf("docs: %w", err)
		}
		fmt.Fprintln(stdout, filepath.Join(out, name))
	}
	return nil
}

// renderDocs renders every file of docFiles from the source tree src.
func renderDocs(src string, page manual.Page) (map[string][]byte, error) {
	module, err := modulePath(filepath.Join(src, "go.mod"))
	if err != nil {
		return nil, err
	}
	keys, err := manual.Keys(config.Default(), &manual.Source{Root: src, Module: module,
		Defaults: map[string]string{"auth.authserv_id": "this host's name"}})
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	example, err := os.ReadFile(filepath.Join(src, "deploy", "vigil.yaml"))
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	packaged, err := config.Packaged(example)
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	var man8, man5, bash bytes.Buffer
	cmds := manualCommands()
	if err := manual.WriteVigil8(&man8, cmds, page); err != nil {
		return nil, err
	}
	if err := manual.WriteVigilYAML5(&man5, keys, page); err != nil {
		return nil, err
	}
	if err := manual.WriteBashCompletion(&bash, cmds); err != nil {
		return nil, err
	}
	return map[string][]byte{
		"vigil.8":               man8.Bytes(),
		"vigil.yaml.5":          man5.Bytes(),
		"vigil.bash-completion": bash.Bytes(),
		"vigil.yaml":            packaged,
	}, nil
}

// modulePath reads the module line of go.mod.
func modulePath(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", fmt.Errorf("docs: %w (run in the source tree, or give --src)", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`), nil
		}
	}
	return "", fmt.Errorf("docs: %s has no module line", gomod)
}
