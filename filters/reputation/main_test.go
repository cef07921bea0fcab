package reputation

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/store/storetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	storetest.Stop()
	os.Exit(code)
}

// redisConfig is the check's configuration over the test binary's private
// redis-server, with a key prefix of its own.
func redisConfig(tb testing.TB, cfg Config) Config {
	cfg.Backend = "redis"
	cfg.Redis.Addr = storetest.Redis(tb)
	cfg.Redis.Prefix = fmt.Sprintf("t%d:", time.Now().UnixNano())
	cfg.Redis.Timeout = filters.Duration(5 * time.Second)
	return cfg
}

type storeOpener func(t *testing.T) store.Store

func openTestBolt(t *testing.T) store.Store {
	s, err := store.OpenBolt(t.TempDir(), 24*time.Hour, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTestRedis(t *testing.T) store.Store {
	s, err := store.OpenRedis(redisConfig(t, DefaultConfig()).Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// mustCheck is the check's constructor in a test: the configurations here
// are valid.
func mustCheck(c *Check, err error) *Check {
	if err != nil {
		panic(err)
	}
	return c
}
