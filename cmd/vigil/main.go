// Command vigil is the Vigil mail filter: `serve` runs the milter, `check`
// runs the same pipeline on one message, `learn` feeds user verdicts back,
// `doctor` checks an installation. This file only wires; commands.go lists
// the commands and their flags.
package main

import (
	"errors"
	"flag"
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

// flagError is an error of the flag parser (unknown flag, bad value):
// the synopsis is printed after it.
type flagError struct{ err error }

func (e flagError) Error() string { return e.err.Error() }
func (e flagError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "--version", "-version", "-v":
		args = []string{"version"}
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := findCommand(args[1]); ok {
				writeCommandHelp(stdout, c)
				return exitOK
			}
		}
		writeUsage(stdout)
		return exitOK
	}
	c, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "vigil: unknown command %q\n\n", args[0])
		writeUsage(stderr)
		return exitUsage
	}
	err := c.run(args[1:], stdin, stdout, stderr)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		writeCommandHelp(stdout, c)
		return exitOK
	case errors.Is(err, errChecksFailed):
		return exitFailure // the findings are the message
	}
	fmt.Fprintln(stderr, "vigil:", err)
	if errors.As(err, new(flagError)) {
		fmt.Fprintf(stderr, "usage: %s\n(vigil %s --help lists the flags)\n", c.manual().Synopsis(), c.name)
	}
	if errors.As(err, new(usageError)) {
		return exitUsage
	}
	return exitFailure
}
