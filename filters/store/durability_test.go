package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// redisWith starts a private redis-server with the given persistence
// arguments, listening on loopback TCP (replication needs a port), and
// returns its address; it is killed when the test ends.
func redisWith(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server); skipping")
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 5; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		all := append([]string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
			"--logfile", filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))}, args...)
		cmd := exec.Command(bin, all...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		// SIGTERM, not SIGKILL: a test that turns appendonly on starts an
		// AOF rewrite in a forked child, which a SIGKILL of the server
		// leaves writing into dir while the test removes it; on SIGTERM
		// Redis kills the child and removes its temporary file.
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		})
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exited:
				deadline = time.Time{} // the port was taken: try another
				continue
			default:
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				c.SetDeadline(time.Now().Add(time.Second))
				fmt.Fprintf(c, "PING\r\n")
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if strings.HasPrefix(line, "+PONG") {
					return addr
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Fatal("redis-server did not start")
	return ""
}

func durableStore(t *testing.T, addr string, mod func(*RedisConfig)) (*RedisStore, *bytes.Buffer) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.Addr = addr
	cfg.Redis.Timeout = filters.Duration(2 * time.Second)
	if mod != nil {
		mod(&cfg.Redis)
	}
	s, err := OpenRedis(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	s.SetLogger(slog.New(slog.NewTextHandler(&log, nil)))
	t.Cleanup(func() { s.Close() })
	return s, &log
}

var someKeys = []Key{{Kind: KindDomain, Value: "spam.example", Weight: 1}}

// TestRedisPersistenceWarns: with Redis' own defaults for a test server
// (no AOF, no snapshots) the store says at once that a restart loses every
// acknowledged report; with appendonly yes and appendfsync always it is
// quiet. Before, nothing warned.
func TestRedisPersistenceWarns(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		durable bool
		says    string
	}{
		{"nothing persisted", []string{"--save", "", "--appendonly", "no"}, false, "a Redis restart loses every report"},
		{"snapshots only", []string{"--save", "3600 1", "--appendonly", "no"}, false, "since the last RDB snapshot"},
		{"AOF everysec", []string{"--save", "", "--appendonly", "yes", "--appendfsync", "everysec"}, false, "the last 2 seconds"},
		{"AOF always", []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, log := durableStore(t, redisWith(t, tc.args...), nil)
			p, err := s.CheckPersistence(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if p.Durable() != tc.durable || !strings.Contains(p.Loses(), tc.says) {
				t.Fatalf("%+v: durable %v, loses %q; want %v, %q", p, p.Durable(), p.Loses(), tc.durable, tc.says)
			}
			if warned := strings.Contains(log.String(), "level=WARN"); warned == tc.durable {
				t.Fatalf("warned %v for durable %v: %s", warned, tc.durable, log.String())
			}
			// warn mode still learns.
			if _, err := s.Learn(context.Background(), "d-"+tc.name, Spam, someKeys); err != nil {
				t.Fatalf("warn mode refused to learn: %v", err)
			}
		})
	}
}

// TestRedisFsyncRefusesUntilDurable: persistence: fsync refuses feedback
// (ErrUnavailable, so 503) while the server would lose it in a crash, and
// takes it once the server fsyncs every write.
func TestRedisFsyncRefusesUntilDurable(t *testing.T) {
	addr := redisWith(t, "--save", "", "--appendonly", "no")
	s, _ := durableStore(t, addr, func(r *RedisConfig) { r.Persistence = PersistenceFsync })
	_, err := s.Learn(context.Background(), "digest-1", Spam, someKeys)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotDurable) {
		t.Fatalf("learn into a non-durable Redis with persistence: fsync: %v, want ErrUnavailable and ErrNotDurable", err)
	}
	if n, _ := s.rdb.Exists(context.Background(), s.msgKey("digest-1")).Result(); n != 0 {
		t.Fatal("the refused report was written")
	}
	// The operator fixes the server; the store notices within persistenceCheck.
	for _, kv := range [][2]string{{"appendonly", "yes"}, {"appendfsync", "always"}} {
		if err := s.rdb.ConfigSet(context.Background(), kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s.dur.mu.Lock()
	s.dur.at = time.Time{} // as if persistenceCheck had passed
	s.dur.mu.Unlock()
	if out, err := s.Learn(context.Background(), "digest-1", Spam, someKeys); err != nil || out != Learned {
		t.Fatalf("learn into a durable Redis: %v %v", out, err)
	}
}

// TestRedisWaitReplicas: with wait_replicas the report is acknowledged only
// once a replica has it; without the replica it is refused (503) and can be
// sent again (learning it again is a no-op).
func TestRedisWaitReplicas(t *testing.T) {
	primary := redisWith(t, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0")
	host, port, _ := net.SplitHostPort(primary)
	redisWith(t, "--save", "", "--appendonly", "no", "--replicaof", host, port)
	s, _ := durableStore(t, primary, func(r *RedisConfig) {
		r.WaitReplicas, r.WaitTimeout = 1, filters.Duration(time.Second)
		r.Persistence = PersistenceOff
	})
	// The replica needs a moment to sync.
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = s.Learn(context.Background(), "with-replica", Spam, someKeys); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("learn with a replica: %v", err)
	}
	lone, _ := durableStore(t, redisWith(t, "--save", "", "--appendonly", "no"), func(r *RedisConfig) {
		r.WaitReplicas, r.WaitTimeout = 1, filters.Duration(200*time.Millisecond)
		r.Persistence = PersistenceOff
	})
	if _, err := lone.Learn(context.Background(), "no-replica", Spam, someKeys); !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotDurable) {
		t.Fatalf("learn without a replica: %v, want ErrUnavailable and ErrNotDurable", err)
	}
}
