package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/vigilmail/vigil/cmd/vigil/admin"
	"github.com/vigilmail/vigil/cmd/vigil/config"
	"github.com/vigilmail/vigil/milter"
)

type serveOpts struct{ config string }

func (o *serveOpts) define(fs *flag.FlagSet) {
	fs.StringVar(&o.config, "config", "", configFlagUsage)
}

func cmdServe(args []string, stderr io.Writer) error {
	var o serveOpts
	fs := newFlagSet("serve")
	o.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfgPath := &o.config
	if fs.NArg() > 0 {
		return usagef("serve: unexpected argument %q", fs.Arg(0))
	}
	// Catch signals from the start: a SIGTERM while the store opens or the
	// socket binds is handled (after startup) instead of killing the
	// process with the default action.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	store, err := openStore(cfg, log, false)
	if err != nil {
		return err
	}
	defer store.Close()
	rt, err := build(cfg, log, store)
	if err != nil {
		return err
	}
	ln, err := milter.Listen(cfg.Milter.Listen)
	if err != nil {
		rt.close()
		return err
	}
	rt.engine.Start()
	srv := milter.NewServer(cfg.MilterConfig(), rt.engine, log)
	// addr is the address bound: with port 0 in milter.listen the system
	// picks one, and this line is where tests (and operators) read it.
	log.Info("vigil serving", "listen", cfg.Milter.Listen, "addr", ln.Addr().String(), "config", *cfgPath, "checks", rt.engine.Pipeline().Checks(), "dry_run", cfg.Policy.DryRun)

	var current atomic.Pointer[runtime]
	current.Store(rt)
	var adminSrv *admin.Server
	if cfg.Admin.Listen != "" {
		token, err := adminToken(cfg)
		if err != nil {
			rt.close()
			return usageError{err}
		}
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			rt.close()
			return fmt.Errorf("admin.listen: %w", err)
		}
		if !loopbackListen(cfg.Admin.Listen) {
			log.Warn("admin listener is not on loopback: anyone who can reach it and guesses the token can teach the filter; keep admin.listen on 127.0.0.1 or ::1 and put a proxy with TLS in front",
				"listen", cfg.Admin.Listen)
		}
		adminSrv = admin.New(token, adminLimits(cfg), func() admin.Hooks {
			r := current.Load()
			return admin.Hooks{
				Learner:  r.engine,
				FlushDNS: r.resolver.Flush,
				Metrics:  func() map[string]float64 { return metrics(srv, r) },
				Weights:  r.engine.WeightListing,
			}
		}, log)
		go func() {
			if err := adminSrv.Serve(aln); err != nil {
				log.Error("admin listener stopped", "err", err)
			}
		}()
		log.Info("admin listener", "listen", cfg.Admin.Listen, "addr", aln.Addr().String())
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	for {
		select {
		case err := <-served:
			rt.close()
			return err
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				rt, cfg = reload(*cfgPath, cfg, rt, srv, adminSrv, store, log)
				current.Store(rt)
				continue
			}
			log.Info("shutting down: draining in-flight messages", "signal", sig.String(), "timeout", cfg.Milter.ShutdownTimeout)
			ctx, cancel := context.WithTimeout(context.Background(), cfg.Milter.ShutdownTimeout)
			err := srv.Shutdown(ctx)
			if adminSrv != nil {
				_ = adminSrv.Shutdown(ctx)
			}
			cancel()
			<-served
			rt.close()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			log.Info("stopped")
			return nil
		}
	}
}

// adminLimits is the admin listener's view of the configuration.
func adminLimits(c config.Config) admin.Limits {
	return admin.Limits{MaxBody: int64(c.Admin.MaxBody), MaxConcurrent: c.Admin.MaxConcurrent}
}

// loopbackListen reports whether a HOST:PORT listens on loopback only
// ("localhost", 127.0.0.0/8, ::1); "" and wildcard hosts are not.
func loopbackListen(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
