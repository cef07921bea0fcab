package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/dnsrep"
	"github.com/vigilmail/vigil/filters/eval"
	"github.com/vigilmail/vigil/filters/feedback"
	"github.com/vigilmail/vigil/filters/store"
)

type evalOpts struct {
	config, mode, feedback, store string
	json, offline                 bool
	warmup, window, workers       int
	learnSpam, learnHam           multiFlag
	spam, ham                     multiFlag
}

func (o *evalOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", configFlagUsage)
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.StringVar(&o.mode, "mode", "static", "`static` (learn the learn sets, then judge) or online (judge in Date order, learning reports as they come)")
	fs.StringVar(&o.feedback, "feedback", "errors", "which judged messages are reported in online mode: `errors`, all, a share P in (0,1], or errors:P")
	fs.Var(&o.learnSpam, "learn-spam", "learn the spam in `PATH` first (.eml, mbox, Maildir or a directory of them; repeat for several)")
	fs.Var(&o.learnHam, "learn-ham", "learn the ham in `PATH` first (repeat for several)")
	fs.Var(&o.spam, "spam", "judge the spam in `PATH` (repeat for several)")
	fs.Var(&o.ham, "ham", "judge the ham in `PATH` (repeat for several)")
	fs.StringVar(&o.store, "store", "", "start from a copy of the bbolt store `FILE` (reputation.db or its directory; never written); default: an empty store")
	fs.BoolVar(&o.offline, "offline", false, "answer every DNS query with NXDOMAIN from a resolver inside the process (archived mail whose domains are gone; nothing leaves the machine)")
	fs.IntVar(&o.warmup, "warmup", 200, "online mode: report the verdicts after the first `N` messages apart")
	fs.IntVar(&o.window, "window", 200, "online mode: `N` messages per point of the curve")
	fs.IntVar(&o.workers, "workers", 0, "`N` messages judged at once in static mode (default: one per CPU)")
}

func cmdEval(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	var o evalOpts
	fs := newFlagSet("eval")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("eval: unexpected argument %q (inputs are given with --spam, --ham, --learn-spam, --learn-ham)", fs.Arg(0))
	}
	if len(o.spam) == 0 || len(o.ham) == 0 {
		return usagef("eval: give at least one --spam PATH and one --ham PATH to judge")
	}
	mode, err := eval.ParseMode(o.mode)
	if err != nil {
		return usageError{err}
	}
	fb, err := eval.ParseFeedback(o.feedback)
	if err != nil {
		return usageError{err}
	}
	if o.warmup < 0 || o.window <= 0 || o.workers < 0 {
		return usagef("eval: --warmup, --window and --workers take positive numbers")
	}
	cfg, err := loadConfig(o.config)
	if err != nil {
		return err
	}
	evalConfig(&cfg)
	// A batch job that keeps a whole store in memory: collect garbage less
	// often, trading memory (a few hundred MB more) for a quarter of the
	// CPU time.
	debug.SetGCPercent(400)
	log := newLogger(cfg, stderr)
	if o.offline {
		srv, err := dnsrep.StartOffline(log)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		defer srv.Close()
		cfg.DNS.Servers = []string{srv.Addr()}
	}

	var inputs [4][]eval.Message
	for k, set := range []struct {
		paths multiFlag
		spam  bool
	}{{o.learnSpam, true}, {o.learnHam, false}, {o.spam, true}, {o.ham, false}} {
		for _, p := range set.paths {
			err := feedback.ReadTree(p, func(raw feedback.RawMessage) error {
				inputs[k] = append(inputs[k], eval.Message{Source: raw.Source, Spam: set.spam, Raw: raw.Data})
				return nil
			})
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
		}
	}

	// Never the configured store: an empty one in memory, or a copy.
	var st store.Store = store.NewMemory()
	if o.store != "" {
		st, err = store.CopyToMemory(o.store, time.Duration(cfg.Reputation.HalfLife))
		if err != nil {
			return fmt.Errorf("eval: --store: %w", err)
		}
	}
	rt, err := build(cfg, log, st)
	if err != nil {
		return err
	}
	defer rt.close()

	opts := eval.Options{Mode: mode, Feedback: fb, Warmup: o.warmup, Window: o.window, Workers: o.workers}
	bar := newProgressBar(stderr)
	opts.Progress = bar.update
	start := time.Now()
	res, err := eval.Run(context.Background(), rt.engine, append(inputs[0], inputs[1]...), append(inputs[2], inputs[3]...), opts)
	bar.finish()
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	n := len(inputs[0]) + len(inputs[1]) + len(inputs[2]) + len(inputs[3])
	el := time.Since(start)
	fmt.Fprintf(stderr, "eval: %d messages in %s (%.0f messages/s)\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteText(stdout)
}

// evalConfig adapts a configuration to replaying mail: counts and
// weights change with every report eval learns, so nothing read from the
// store is reused across messages, and auto-learning (which runs behind
// the verdicts, at its own pace) is off, so that a run depends on its
// input alone.
func evalConfig(c *config.Config) {
	c.Reputation.CacheTTL = 0
	c.Bayes.Autolearn.Enabled = false
}

// progressBar draws "[=====>    ] 1234/6046" on a terminal, at most ten
// times a second; on anything else (a pipe, a file) it draws nothing.
type progressBar struct {
	mu   sync.Mutex
	w    io.Writer
	on   bool
	last time.Time
}

func newProgressBar(w io.Writer) *progressBar {
	f, ok := w.(*os.File)
	if !ok {
		return &progressBar{}
	}
	st, err := f.Stat()
	return &progressBar{w: w, on: err == nil && st.Mode()&os.ModeCharDevice != 0}
}

func (b *progressBar) update(done, total int) {
	if !b.on || total == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now := time.Now(); done < total && now.Sub(b.last) < 100*time.Millisecond {
		return
	} else {
		b.last = now
	}
	const width = 30
	fill := width * done / total
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	fmt.Fprintf(b.w, "\r[%s] %d/%d", bar, done, total)
}

func (b *progressBar) finish() {
	if b.on {
		fmt.Fprint(b.w, "\r\033[K")
	}
}
