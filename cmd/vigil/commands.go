package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vigilmail/vigil/cmd/vigil/manual"
)

// command is one subcommand. Its flags are defined once, by define, and
// that one definition parses the command line, prints --help, and
// generates the man page and the shell completion, so none of them can
// leave a flag out.
type command struct {
	name string
	// operands follow the flags in the synopsis, e.g. "[FILE|-]".
	operands string
	// summary is the one line of `vigil --help`.
	summary string
	// doc is the vigil(8) text: paragraphs separated by blank lines.
	doc string
	// hidden commands are for packaging; usage and completion omit them.
	hidden bool
	define func(fs *flag.FlagSet)
	run    func(args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// configFlagUsage is the --config flag of every command that reads the
// configuration. The back-quoted word names the value in usage and man page.
const configFlagUsage = "read the configuration from `FILE` (default: built-in defaults)"

// commands is filled in init: the docs command renders the list itself.
var commands []command

func init() {
	commands = []command{
		{
			name:    "serve",
			summary: "run the milter (built-in defaults without --config)",
			doc: `Runs the milter: the MTA connects to milter.listen and Vigil answers every message with accept, tag, quarantine, reject or tempfail. Logs go to standard error, one line per message verdict.

SIGHUP reloads the configuration (a bad file is refused, logged, and the running configuration kept) and flushes the DNS cache. SIGTERM stops accepting connections and waits up to milter.shutdown_timeout for open MTA sessions to finish their messages.`,
			define: func(fs *flag.FlagSet) { new(serveOpts).define(fs) },
			run: func(args []string, _ io.Reader, _, stderr io.Writer) error {
				return cmdServe(args, stderr)
			},
		},
		{
			name:     "check",
			operands: "[FILE|-]",
			summary:  "run the pipeline on one message and print the verdict",
			doc: `Runs the same pipeline as serve on one message (a file, or standard input) and prints the verdict: a table, or with --json one JSON object with action, score, symbols, auth, urls and images. A result seen here is the result the MTA gets. With the bbolt store locked by a running daemon, the message is judged without learned reputation (a warning says so).

Exit status 0 when a verdict was produced, even reject.`,
			define: func(fs *flag.FlagSet) { new(checkOpts).define(fs) },
			run:    cmdCheck,
		},
		{
			name:     "learn",
			operands: "FILE...",
			summary:  "learn .eml files, mbox files or Maildir folders as spam or ham",
			doc: `Feeds user verdicts back into the reputation store and the classifier. Give exactly one of --spam or --ham. Takes .eml files, mbox files and Maildir folders. The same message learned twice counts once; learned as the other class it moves. ARF reports (RFC 5965) are unwrapped and their enclosed message learned.

With the bbolt store, the running daemon holds the file's lock: send feedback to the daemon's admin listener (POST /learn/spam, /learn/ham) instead.`,
			define: func(fs *flag.FlagSet) { new(learnOpts).define(fs) },
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
				return cmdLearn(args, stdout, stderr)
			},
		},
		{
			name:    "eval",
			summary: "replay labelled mail through the pipeline and report what Vigil would have done",
			doc: `Replays labelled mail through the same engine as serve and check (without the milter) and reports what Vigil would have done: messages judged and caught per class (caught: tagged, quarantined or rejected; under policy.dry_run the would-be action), recall and false-positive rate, the lowest score threshold and its recall at false-positive rates 0, 0.1% and 1%, how often each symbol fired on spam and on ham, every misjudged message, and the learned symbol weights. Each PATH is an .eml file, an mbox file, a Maildir folder or a directory of them.

It never touches the configured store: it learns into an empty store in memory, or into a copy of a bbolt store given with --store. Static mode learns the --learn-spam and --learn-ham sets as user reports, exactly as learn would, in Date order, then judges the --spam and --ham sets and learns nothing more. Online mode judges the test sets in Date order (ties by input order) and, after each verdict, learns the message with its label when the feedback rule says a user would have reported it: errors (only misjudged mail), all, a share P of all mail, or errors:P; the share is chosen by a hash of each message, so a run is repeatable.

DNS goes to the configured resolver. For archived mail whose domains are gone use --offline (or dns.servers pointing at a local resolver that answers NXDOMAIN): nothing leaves the machine and the run does not depend on today's DNS. The same input and configuration give the same numbers.

Without --json it prints a summary table, and draws a progress bar on standard error when that is a terminal. Exit status 0 when the evaluation ran, 2 on usage or configuration errors, 1 on any other failure.`,
			define: func(fs *flag.FlagSet) { new(evalOpts).define(fs) },
			run:    cmdEval,
		},
		{
			name:    "weights",
			summary: "list the symbol weights learned from feedback",
			doc: `Lists every symbol whose weight was learned from reports: its hand-set weight (its score at full strength), the learned weight, and the weight used (the learned one blended in from weights.min_reports reports on, fully from twice that). The weights are in the reputation store, shared by every node on one Redis. With the bbolt store locked by the running daemon they are read through its admin listener (GET /weights).

Exit status 0 when the weights were listed, 2 on usage or configuration errors, 1 when they could not be read.`,
			define: func(fs *flag.FlagSet) { new(weightsOpts).define(fs) },
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
				return cmdWeights(args, stdout, stderr)
			},
		},
		{
			name:    "doctor",
			summary: "check the configuration, DNS servers, blocklists and the store; exit 1 on a failure",
			doc: `Checks what an operator needs before trusting Vigil and prints one line per finding: the checks by stage; the reputation store (bbolt: the file opens; Redis: PING with the configured password); each DNS server asked from source port 53, a port below 1024 and a high port (some firewalls silently drop DNS from low ports, which shows up as unexplained SERVFAIL); and every enabled blocklist against its RFC 5782 test points.

A failing finding is labelled with what happened: refused (nothing listens there), unreachable (no route to the network or host), timeout (no answer in time), cannot bind (a local source port), list refused (the list refuses queries from this resolver), auth failed, or wrong answer. A bbolt file locked by a running daemon is reported as in use, not as a failure.

Exit status 0 when every check passed (warnings allowed), 1 when any check failed, 2 on usage or configuration errors.`,
			define: func(fs *flag.FlagSet) { new(doctorOpts).define(fs) },
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
				return cmdDoctor(args, stdout, stderr)
			},
		},
		{
			name:    "flush-dns",
			summary: "make the running daemon drop its DNS cache (admin listener)",
			doc:     `Asks the running daemon, through its admin listener (admin.listen, with admin.token or admin.token_file), to drop its DNS cache, and prints how many answers were dropped. Sending SIGHUP to the daemon does the same (and reloads the configuration).`,
			define:  func(fs *flag.FlagSet) { new(flushOpts).define(fs) },
			run: func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
				return cmdFlushDNS(args, stdout, stderr)
			},
		},
		{
			name:     "load",
			operands: "[FILE|-]",
			summary:  "load a milter over the milter protocol, report msg/s, latency and verdicts",
			doc:      `Drives any milter over the milter protocol the way an MTA does (one milter session per message from N concurrent connections) and prints messages per second, latency percentiles and the answers: accept, tag (accepted with X-Spam-Flag: YES), quarantine, reject, tempfail. Without FILE it sends a small built-in message. Loopback addresses only.`,
			define:   func(fs *flag.FlagSet) { new(loadOpts).define(fs) },
			run:      cmdLoad,
		},
		{
			name:    "version",
			summary: "print the version, VCS revision and time, and Go version",
			doc:     `Prints the version (stamped by release and package builds, else the module version), the VCS revision and commit time the binary was built from, and the Go version. vigil --version does the same.`,
			define:  func(*flag.FlagSet) {},
			run: func(args []string, _ io.Reader, stdout, _ io.Writer) error {
				return cmdVersion(args, stdout)
			},
		},
		{
			name:     "docs",
			operands: "DIR",
			hidden:   true,
			summary:  "write the man pages, bash completion and packaged config into DIR (for packaging)",
			define:   func(fs *flag.FlagSet) { new(docsOpts).define(fs) },
			run: func(args []string, _ io.Reader, stdout, _ io.Writer) error {
				return cmdDocs(args, stdout)
			},
		},
	}
}

func findCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// newFlagSet returns a flag set that prints nothing itself: run prints a
// parse error once, followed by the command's usage, and --help to
// standard output.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args; errors (flag.ErrHelp included) are usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError{flagError{err}}
	}
	return nil
}

// flagSet returns the command's flags, defined on a fresh set.
func (c command) flagSet() *flag.FlagSet {
	fs := newFlagSet(c.name)
	c.define(fs)
	return fs
}

// manual describes the command for the man page and completion.
func (c command) manual() manual.Command {
	return manual.Command{Name: c.name, Operands: c.operands, Summary: c.summary, Doc: c.doc, Flags: c.flagSet()}
}

// manualCommands lists the commands users see.
func manualCommands() []manual.Command {
	var out []manual.Command
	for _, c := range commands {
		if !c.hidden {
			out = append(out, c.manual())
		}
	}
	return out
}

// writeUsage prints `vigil --help`: one synopsis per command.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, "usage: vigil <command> [flags]\n\ncommands:\n")
	for _, c := range commands {
		if c.hidden {
			continue
		}
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\n`vigil <command> --help` shows a command's flags; `man vigil` and `man vigil.yaml` document everything.\n")
}

// writeCommandHelp prints `vigil CMD --help`: synopsis, summary, flags.
func writeCommandHelp(w io.Writer, c command) {
	m := c.manual()
	fmt.Fprintf(w, "usage: %s\n\n%s\n", m.Synopsis(), c.summary)
	var flags []*flag.Flag
	m.Flags.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	if len(flags) == 0 {
		return
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i].Name < flags[j].Name })
	fmt.Fprint(w, "\nflags:\n")
	for _, f := range flags {
		name, usage := flag.UnquoteUsage(f)
		head := "--" + f.Name
		if name != "" {
			head += " " + name
		}
		if def := manual.FlagDefault(f); def != "" {
			usage += " (default " + def + ")"
		}
		fmt.Fprintf(w, "  %-22s %s\n", head, strings.ReplaceAll(usage, "\n", "\n"+strings.Repeat(" ", 25)))
	}
}
