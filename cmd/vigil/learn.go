package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/vigilmail/vigil/filters/engine"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/store"
)

type learnOpts struct {
	config, rcptDomain string
	spam, ham, json    bool
}

func (o *learnOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", configFlagUsage)
	fs.BoolVar(&o.spam, "spam", false, "the messages are spam")
	fs.BoolVar(&o.ham, "ham", false, "the messages are not spam")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per message")
	fs.StringVar(&o.rcptDomain, "rcpt-domain", "", "the recipient `DOMAIN` whose user reported the messages (with reputation.scope: rcpt_domain they count for it only)")
}

func cmdLearn(args []string, stdout, stderr io.Writer) error {
	var o learnOpts
	fs := newFlagSet("learn")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.spam == o.ham {
		return usagef("learn: give exactly one of --spam or --ham")
	}
	if fs.NArg() == 0 {
		return usagef("learn: no input (give .eml files, mbox files or Maildir folders)")
	}
	class := store.Ham
	if o.spam {
		class = store.Spam
	}
	if _, err := engine.ScopeDomain(o.rcptDomain); err != nil {
		return usagef("learn: --rcpt-domain %q: not a domain", o.rcptDomain)
	}
	cfg, err := loadConfig(o.config)
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
		err := feedback.ReadTree(path, func(raw feedback.RawMessage) error {
			out, err := rt.engine.LearnFromFor(ctx, bytes.NewReader(raw.Data), class, o.rcptDomain)
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "vigil: learn: %s: %v\n", raw.Source, err)
				return nil // one bad message does not stop the batch
			}
			switch out.Overall() {
			case store.Moved:
				moved++
			case store.Duplicate:
				dups++
			default:
				learned++
			}
			if o.json {
				return enc.Encode(map[string]any{"source": raw.Source, "result": out})
			}
			arf := ""
			if out.ARF {
				arf = " (feedback report)"
			}
			scope := ""
			if out.Scope != "" {
				scope = " for " + out.Scope
			}
			fmt.Fprintf(stdout, "%s: %s as %s%s, %d keys%s\n", raw.Source, out.Overall(), out.Class, arf, out.Keys, scope)
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
