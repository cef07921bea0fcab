// Package storetest starts, for the tests of any package, a private
// redis-server once per test binary on a unix socket (no network at all),
// without persistence. Tests isolate themselves by key prefix. It does not
// import the store, so the store's own tests can use it.
package storetest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

var (
	redisOnce sync.Once
	redisAddr string
	redisErr  error
	redisCmd  *exec.Cmd
)

// Redis returns the address ("unix:/path") of the test binary's private
// redis-server, starting it on first use. It skips the test when
// redis-server is not installed, and fails it under CI
// (sharedtest.Unavailable). Call Stop from TestMain.
func Redis(tb testing.TB) string {
	tb.Helper()
	redisOnce.Do(func() { redisAddr, redisErr = launch() })
	if errors.Is(redisErr, exec.ErrNotFound) {
		sharedtest.Unavailable(tb, "redis-server is not installed (apt-get install redis-server; test.sh installs it); the Redis backend tests need it")
	}
	if redisErr != nil {
		tb.Fatalf("starting redis-server: %v", redisErr)
	}
	return redisAddr
}

// Stop stops the redis-server Redis started, if any.
func Stop() {
	if redisCmd != nil {
		redisCmd.Process.Kill()
		redisCmd.Wait()
		redisCmd = nil
	}
}

func launch() (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "vigil-redis")
	if err != nil {
		return "", err
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return "", err
	}
	redisCmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return "unix:" + sock, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("redis-server did not answer on %s", sock)
}
