package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version is stamped by release and package builds:
//
//	go build -ldflags "-X main.version=1.2.0" ./cmd/vigil
//
// Unstamped, the version comes from the build information: the module
// version for `go install ...@v1.2.0`, the pseudo-version Go derives from
// the VCS for a build in a checkout.
var version = ""

// revision and commitTime are stamped by the package build as well, for
// builds where Go records no VCS information (-buildvcs=false, a git
// worktree): -X main.revision=<hash> -X main.commitTime=<RFC 3339>.
var revision, commitTime = "", ""

// buildInfo is what `vigil version` reports.
type buildInfo struct {
	Version  string
	Revision string // VCS revision; "" when built outside a checkout
	Time     string // commit time, RFC 3339
	Modified bool   // the checkout had uncommitted changes
	Go       string
	Platform string
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version}
	bi, ok := debug.ReadBuildInfo()
	if ok {
		b.Go = bi.GoVersion
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		var goos, goarch string
		for _, s := range bi.Settings {
			switch s.Key {
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
		if goos != "" {
			b.Platform = goos + "/" + goarch
		}
	}
	if b.Revision == "" {
		b.Revision, b.Time = revision, commitTime
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

func (b buildInfo) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "vigil %s\n", b.Version)
	rev := b.Revision
	if rev == "" {
		rev = "unknown (built outside a VCS checkout)"
	} else if b.Modified {
		rev += " (with uncommitted changes)"
	}
	fmt.Fprintf(&s, "revision: %s\n", rev)
	if b.Time != "" {
		fmt.Fprintf(&s, "commit time: %s\n", b.Time)
	}
	fmt.Fprintf(&s, "go: %s\n", strings.TrimSpace(b.Go+" "+b.Platform))
	return s.String()
}

func cmdVersion(args []string, stdout io.Writer) error {
	fs := newFlagSet("version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("version: unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprint(stdout, readBuildInfo())
	return nil
}
