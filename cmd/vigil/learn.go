package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/vigilmail/vigil/filters/reputation"
)

func cmdLearn(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("learn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "config file (default: built-in defaults)")
	spam := fs.Bool("spam", false, "the messages are spam")
	ham := fs.Bool("ham", false, "the messages are not spam")
	asJSON := fs.Bool("json", false, "print one JSON object per message")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *spam == *ham {
		return usagef("learn: give exactly one of --spam or --ham")
	}
	if fs.NArg() == 0 {
		return usagef("learn: no input (give .eml files, mbox files or Maildir folders)")
	}
	class := reputation.Ham
	if *spam {
		class = reputation.Spam
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	rt, _, done, err := openRuntime(cfg, log, false)
	if err != nil {
		return err
	}
	defer done()

	var learned, moved, dups, failed int
	ctx := context.Background()
	enc := json.NewEncoder(stdout)
	for _, path := range fs.Args() {
		err := reputation.ReadInput(path, func(raw reputation.RawMessage) error {
			out, err := rt.engine.LearnRaw(ctx, raw.Data, class)
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "vigil: learn: %s: %v\n", raw.Source, err)
				return nil // one bad message does not stop the batch
			}
			switch out.Overall() {
			case reputation.Moved:
				moved++
			case reputation.Duplicate:
				dups++
			default:
				learned++
			}
			if *asJSON {
				return enc.Encode(map[string]any{"source": raw.Source, "result": out})
			}
			arf := ""
			if out.ARF {
				arf = " (feedback report)"
			}
			fmt.Fprintf(stdout, "%s: %s as %s%s, %d keys\n", raw.Source, out.Overall(), out.Class, arf, out.Keys)
			return nil
		})
		if err != nil {
			return fmt.Errorf("learn: %w", err)
		}
	}
	fmt.Fprintf(stderr, "learned %d, moved %d, already known %d, failed %d\n", learned, moved, dups, failed)
	if failed > 0 {
		return fmt.Errorf("learn: %d message(s) could not be learned", failed)
	}
	return nil
}
