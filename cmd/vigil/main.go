// Command vigil is the Vigil mail filter: `serve` runs the milter, `check`
// runs the same pipeline on one message, `learn` feeds user verdicts back,
// `doctor` reports on DNS and lists. This file only wires.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes (docs/cli.md): 0 verdict produced / success, 2 usage or config
// error, 1 any other failure.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks errors that exit with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

const usage = `usage: vigil <command> [flags]

commands:
  serve   [--config FILE]                 run the milter (built-in defaults without --config)
  check   [--config FILE] [--json] [--ip ADDR] [--helo NAME] [--from ADDR] [--rcpt ADDR]... [FILE|-]
                                          run the pipeline on one message and print the verdict
  learn   --spam|--ham [--config FILE] [--json] FILE...
                                          learn .eml files, mbox files or Maildir folders as spam or ham
  doctor  [--config FILE]                 checks by stage, DNS source-port check, blocklist health, store
  flush-dns [--config FILE]               make the running daemon drop its DNS cache (admin listener)
  load    [--addr 127.0.0.1:11340] [--conns 16] [--messages N | --duration D] [FILE]
                                          load a milter over the milter protocol, report msg/s and latency
  version                                 print the version
`

var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = cmdServe(args[1:], stderr)
	case "check":
		err = cmdCheck(args[1:], stdin, stdout, stderr)
	case "learn":
		err = cmdLearn(args[1:], stdout, stderr)
	case "doctor":
		err = cmdDoctor(args[1:], stdout, stderr)
	case "flush-dns":
		err = cmdFlushDNS(args[1:], stdout, stderr)
	case "load":
		err = cmdLoad(args[1:], stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "vigil", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(stderr, "vigil:", err)
	var ue usageError
	if asUsage(err, &ue) {
		return exitUsage
	}
	return exitFailure
}
