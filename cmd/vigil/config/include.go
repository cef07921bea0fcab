package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// source is where a key of the merged configuration was written: an
// included file and the key's path in it.
type source struct {
	file, path string
}

// included is what merging the include: files over the main file left:
// where each key they set came from, and the line of every key of each
// file, for the errors that name them.
type included struct {
	origins map[string]source
	lines   map[string]map[string]int
	files   []string
}

// namedLists merge entry by entry: an entry whose name: is the name of an
// earlier entry replaces it, the others are appended.
var namedLists = map[string]bool{"lists": true, "settings": true, "blocklists": true}

// maxConfigBytes bounds one configuration file.
const maxConfigBytes = 16 << 20

// includeFiles expands the include: patterns of the main file (at
// mainPath; "" for the current directory) into files, sorted by file
// name and then path (conf.d style: 10-base.yaml before 20-customer.yaml,
// whatever the directory). A pattern without wildcards must name a file;
// a wildcard may match nothing. The main file is never its own include.
func includeFiles(patterns []string, mainPath string) ([]string, []error) {
	dir := "."
	if mainPath != "" {
		dir = filepath.Dir(mainPath)
	}
	var errs []error
	seen := map[string]bool{}
	if mainPath != "" {
		if abs, err := filepath.Abs(mainPath); err == nil {
			seen[abs] = true
		}
	}
	var files []string
	for i, pat := range patterns {
		p := pat
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		matches, err := filepath.Glob(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("include[%d]: %q: bad pattern", i, pat))
			continue
		}
		if len(matches) == 0 && !strings.ContainsAny(pat, `*?[\`) {
			errs = append(errs, fmt.Errorf("include[%d]: %q: no such file", i, pat))
		}
		for _, m := range matches {
			abs, err := filepath.Abs(m)
			if err != nil || seen[abs] {
				continue
			}
			if fi, err := os.Stat(m); err != nil || fi.IsDir() {
				continue
			}
			seen[abs] = true
			files = append(files, m)
		}
	}
	sort.SliceStable(files, func(i, j int) bool {
		bi, bj := filepath.Base(files[i]), filepath.Base(files[j])
		if bi != bj {
			return bi < bj
		}
		return files[i] < files[j]
	})
	return files, errs
}

// mergeIncludes merges the files that root's include: names over root,
// in order. Each file is checked on its own (unknown keys, types), its
// errors naming the file, the key as written there and its line.
func mergeIncludes(root *yaml.Node, mainPath string) (*included, []string, []error) {
	inc := &included{origins: map[string]source{}, lines: map[string]map[string]int{}}
	_, val := lookupNode(root, "include")
	if val == nil {
		return inc, nil, nil
	}
	var patterns []string
	if err := val.Decode(&patterns); err != nil {
		return inc, nil, nil // the key checker reported the type
	}
	files, errs := includeFiles(patterns, mainPath)
	doc := root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	var warnings []string
	for _, f := range files {
		inc.files = append(inc.files, f)
		n, w, err := readInclude(f, inc)
		if err != nil {
			errs = append(errs, err...)
			continue
		}
		warnings = append(warnings, w...)
		mergeMapping(doc, n, "", "", f, inc)
	}
	return inc, warnings, errs
}

// readInclude reads and checks one included file.
func readInclude(path string, inc *included) (*yaml.Node, []string, []error) {
	fail := func(err error) (*yaml.Node, []string, []error) {
		return nil, nil, []error{fmt.Errorf("%s: %w", path, err)}
	}
	f, err := os.Open(path)
	if err != nil {
		return fail(err)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes))
	f.Close()
	if err != nil {
		return fail(err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fail(ErrNoSettings)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fail(syntaxError(data, err))
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && (len(root.Content) == 0 || root.Content[0].Tag == "!!null")) {
		return fail(ErrNoSettings)
	}
	if k, _ := lookupNode(&root, "include"); k != nil {
		return fail(fmt.Errorf("include: only the main configuration file includes others (line %d)", k.Line))
	}
	warnings := moveDeprecated(&root)
	kc := keyChecker{lines: map[string]int{}}
	kc.check(&root, reflect.TypeOf(Config{}), "")
	inc.lines[path] = kc.lines
	if len(kc.errs) > 0 {
		var errs []error
		for _, e := range kc.errs {
			errs = append(errs, fmt.Errorf("%s: %w", path, e))
		}
		return nil, nil, errs
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return fail(fmt.Errorf("want a mapping of keys, got %s", kindName(doc)))
	}
	for i, w := range warnings {
		warnings[i] = path + ": " + w
	}
	return doc, warnings, nil
}

// mergeMapping merges src over dst: new keys are added, mappings merge
// key by key, named lists entry by entry, anything else is replaced.
func mergeMapping(dst, src *yaml.Node, dstPath, srcPath, file string, inc *included) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		dp, sp := join(dstPath, k.Value), join(srcPath, k.Value)
		j := keyIndex(dst, k.Value)
		switch {
		case j < 0:
			dst.Content = append(dst.Content, k, v)
			inc.setOrigin(dp, source{file, sp})
		case dst.Content[j+1].Kind == yaml.MappingNode && v.Kind == yaml.MappingNode:
			mergeMapping(dst.Content[j+1], v, dp, sp, file, inc)
		case dstPath == "" && namedLists[k.Value] && dst.Content[j+1].Kind == yaml.SequenceNode && v.Kind == yaml.SequenceNode:
			mergeNamed(dst.Content[j+1], v, dp, sp, file, inc)
		default:
			dst.Content[j+1] = v
			inc.setOrigin(dp, source{file, sp})
		}
	}
}

// mergeNamed merges the entries of a named list.
func mergeNamed(dst, src *yaml.Node, dstPath, srcPath, file string, inc *included) {
	for j, item := range src.Content {
		at := -1
		if name := entryName(item); name != "" {
			for i, d := range dst.Content {
				if entryName(d) == name {
					at = i
				}
			}
		}
		if at < 0 {
			at = len(dst.Content)
			dst.Content = append(dst.Content, item)
		} else {
			dst.Content[at] = item
		}
		inc.setOrigin(fmt.Sprintf("%s[%d]", dstPath, at), source{file, fmt.Sprintf("%s[%d]", srcPath, j)})
	}
}

// entryName is the name: of a list entry, "" when it has none.
func entryName(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	if i := keyIndex(n, "name"); i >= 0 && n.Content[i+1].Kind == yaml.ScalarNode {
		return n.Content[i+1].Value
	}
	return ""
}

// setOrigin records that the key at path (and everything under it) now
// comes from src.
func (inc *included) setOrigin(path string, src source) {
	for k := range inc.origins {
		if strings.HasPrefix(k, path+".") || strings.HasPrefix(k, path+"[") {
			delete(inc.origins, k)
		}
	}
	inc.origins[path] = src
}

// locate finds where the merged key was written: the file and the key
// as written there, and its line; ok is false for the main file's keys.
func (inc *included) locate(key string) (file, fileKey string, line int, ok bool) {
	if inc == nil {
		return "", "", 0, false
	}
	for p := key; p != ""; {
		if src, found := inc.origins[p]; found {
			fileKey = src.path + key[len(p):]
			return src.file, fileKey, lineOf(fileKey, inc.lines[src.file]), true
		}
		i := strings.LastIndexAny(p, ".[")
		if i <= 0 {
			break
		}
		p = p[:i]
	}
	return "", "", 0, false
}

// withPositions appends to each validation error the line of the key it
// names, and for a key an included file set, names that file and the key
// as written there ("conf.d/20-x.yaml: lists[0].action: ... (line 4)").
func withPositions(err error, lines map[string]int, inc *included) error {
	var list []error
	if j, ok := errors.Unwrap(err).(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{errors.Unwrap(err)}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		if e == nil {
			continue
		}
		msg := e.Error()
		key, rest, found := strings.Cut(msg, ": ")
		if file, fileKey, line, ok := inc.locate(key); found && ok {
			msg = fmt.Sprintf("%s: %s: %s", file, fileKey, rest)
			if line > 0 {
				msg += fmt.Sprintf(" (line %d)", line)
			}
			out = append(out, errors.New(msg))
			continue
		}
		if line := lineOf(key, lines); found && line > 0 {
			e = fmt.Errorf("%w (line %d)", e, line)
		}
		out = append(out, e)
	}
	return fmt.Errorf("config: %w", errors.Join(out...))
}
