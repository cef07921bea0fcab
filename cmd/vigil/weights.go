package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/vigilmail/vigil/filters/weights"
)

type weightsOpts struct {
	config string
	json   bool
}

func (o *weightsOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", configFlagUsage)
	fs.BoolVar(&o.json, "json", false, "print the weights as one JSON object")
}

// cmdWeights lists the learned symbol weights. It reads the store; a
// bbolt store locked by the running daemon is read through the daemon's
// admin listener instead (GET /weights), when one is configured.
func cmdWeights(args []string, stdout, stderr io.Writer) error {
	var o weightsOpts
	fs := newFlagSet("weights")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("weights: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	if !cfg.Weights.Enabled {
		return fmt.Errorf("weights: weights.enabled is off: nothing is learned")
	}
	log := newLogger(cfg, stderr)
	var l weights.Listing
	rt, _, done, err := openRuntime(cfg, log, false)
	if err == nil {
		defer done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, err = rt.engine.WeightListing(ctx)
		if err != nil {
			return fmt.Errorf("weights: %w", err)
		}
	} else {
		if cfg.Admin.Listen == "" {
			return err
		}
		token, terr := adminToken(cfg)
		if terr != nil {
			return terr
		}
		if _, aerr := adminGet(cfg.Admin.Listen, "/weights", token, &l); aerr != nil {
			return fmt.Errorf("weights: %w; asking the daemon at %s: %w", err, cfg.Admin.Listen, aerr)
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(l)
	}
	fmt.Fprintf(stdout, "learned from %.0f spam and %.0f ham reports; used at %.0f%% (hand-set scores until weights.min_reports)\n\n",
		l.Reports.Spam, l.Reports.Ham, 100*l.Blend)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYMBOL\tDEFAULT\tLEARNED\tUSED")
	for _, r := range l.Symbols {
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\n", r.Name, r.Default, r.Learned, r.Used)
	}
	return tw.Flush()
}
