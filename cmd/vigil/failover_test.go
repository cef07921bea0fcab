package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/vigilmail/vigil/dnsrep/dnstest"
	"github.com/vigilmail/vigil/filters"
	"github.com/vigilmail/vigil/filters/store"
	"github.com/vigilmail/vigil/filters/store/storetest"
	"github.com/vigilmail/vigil/milter/loadgen"
)

// failoverPrefix is the key prefix of the failover tests.
const failoverPrefix = "failover:"

// sharedRedis is a Redis deployment of several servers that the failover
// test kills a master of.
type sharedRedis struct {
	// yaml is the reputation.redis flow map of the nodes.
	yaml string
	cfg  store.Config
	// killMaster kills (SIGKILL) the master that holds key and returns it.
	killMaster func(t *testing.T, key string) *storetest.Server
	// waitFailover returns once another server took over.
	waitFailover func(t *testing.T, killed *storetest.Server)
	// waitHealthy returns once every master has its replica in sync.
	waitHealthy func(t *testing.T)
}

func redisStoreConfig(mode string, addrs []string, master string) store.Config {
	cfg := store.DefaultConfig()
	cfg.Backend = "redis"
	cfg.Redis.Mode = mode
	cfg.Redis.Addrs = addrs
	cfg.Redis.MasterName = master
	cfg.Redis.Prefix = failoverPrefix
	cfg.Redis.Timeout = filters.Duration(2 * time.Second)
	cfg.Redis.Persistence = store.PersistenceOff
	return cfg
}

func yamlList(xs []string) string { return `["` + strings.Join(xs, `", "`) + `"]` }

// TestClusterFailover: three `vigil serve` nodes on a Redis Cluster of
// three masters and three replicas; see testFailover.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover: skipped with -short")
	}
	c := storetest.StartCluster(t, 3, 1)
	testFailover(t, sharedRedis{
		// Two seeds of six: the nodes find the others.
		yaml: fmt.Sprintf(`{mode: cluster, addrs: %s, prefix: %q, timeout: 500ms, wait_replicas: 1, wait_timeout: 1s}`,
			yamlList(c.Addrs()[:2]), failoverPrefix),
		cfg: redisStoreConfig(store.ModeCluster, c.Addrs(), ""),
		killMaster: func(t *testing.T, key string) *storetest.Server {
			m, err := c.MasterFor(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			m.Kill()
			return m
		},
		waitFailover: func(t *testing.T, killed *storetest.Server) { c.WaitFailover(killed) },
		waitHealthy:  func(t *testing.T) { c.WaitHealthy(1) },
	})
}

// TestSentinelFailover: three `vigil serve` nodes on a master, its replica
// and three sentinels; see testFailover.
func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover: skipped with -short")
	}
	s := storetest.StartSentinel(t, "vigil")
	testFailover(t, sharedRedis{
		yaml: fmt.Sprintf(`{mode: sentinel, addrs: %s, master_name: vigil, prefix: %q, timeout: 500ms, wait_replicas: 1, wait_timeout: 1s}`,
			yamlList(s.Addrs()), failoverPrefix),
		cfg: redisStoreConfig(store.ModeSentinel, s.Addrs(), "vigil"),
		killMaster: func(t *testing.T, _ string) *storetest.Server {
			m, err := s.Master(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			m.Kill()
			return m
		},
		waitFailover: func(t *testing.T, killed *storetest.Server) { s.WaitFailover(killed) },
		waitHealthy:  func(t *testing.T) { s.WaitHealthy() },
	})
}

// failoverReport is the n-th report of the stream: it links a domain of
// its own (which must count 1) and one every report links (which must
// count the number of reports).
func failoverReport(n int) string {
	return fmt.Sprintf("From: Offers <deals@sender%d.fail.test>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n"+
		"Message-ID: <%d@fail.test>\r\nSubject: offer %d\r\n\r\nBuy at http://fo%d.test/buy and http://foshared.test/x, ticket %d\r\n",
		n%5, n, n, n, n*7919)
}

// spamStatus sends msg to a node over the milter protocol and returns its
// X-Spam-Status header.
func spamStatus(addr, msg string) (string, error) {
	out, err := loadgen.Check(context.Background(), loadgen.Options{Addr: addr, Message: []byte(msg),
		ClientIP: "198.51.100.7", From: "x@elsewhere.test", Timeout: 30 * time.Second})
	if err != nil {
		return "", err
	}
	for _, m := range out.Modifications {
		if m.Type == gomilter.ActionAddHeader && m.HeaderName == "X-Spam-Status" {
			return m.HeaderValue, nil
		}
	}
	return "", fmt.Errorf("no X-Spam-Status in %s answer", loadgen.Verdict(out))
}

// postReport sends a report to a node's admin listener: status and body.
func postReport(client *http.Client, admin, msg string) (int, string, error) {
	req, _ := http.NewRequest("POST", "http://"+admin+"/learn/spam", strings.NewReader(msg))
	req.Header.Set("Authorization", "Bearer sekret-sekret-sekret")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), nil
}

// testFailover runs three `vigil serve` nodes on one Redis deployment
// (wait_replicas: 1). A report to node A changes node C's verdict. Then,
// while reports stream to all three nodes (each sent again after a 503
// until acknowledged) and messages stream through their milters, the
// master holding the shared key is killed with SIGKILL; Redis fails over,
// the killed server comes back as a replica, and the stream goes on.
// Every message got a verdict, reports were refused (503, naming the
// missing replica) while the new master had none, and every acknowledged
// report is counted exactly once.
func testFailover(t *testing.T, rds sharedRedis) {
	dns := dnstest.NewServer(t, "fofresh.test. 300 IN NS ns1.bulletproof.test.\nns1.bulletproof.test. 300 IN A 127.0.0.66\n"+
		"fospam1.test. 300 IN NS ns1.bulletproof.test.\nfospam2.test. 300 IN NS ns1.bulletproof.test.\n"+
		"fospam3.test. 300 IN NS ns1.bulletproof.test.\nfospam4.test. 300 IN NS ns1.bulletproof.test.\n")
	// A generous read deadline: the machine may be loaded. A read that
	// misses it only costs that message its reputation.
	var nodes []node
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		nodes = append(nodes, startNode(t, name, dns.Addr(), "redis: "+rds.yaml+", timeout: 2s"))
	}
	a, c := nodes[0], nodes[2]
	client := &http.Client{Timeout: 60 * time.Second}

	// A report to node A changes node C's verdict.
	probe := "From: New <x@elsewhere.test>\r\nDate: Sat, 28 Nov 2026 07:00:00 +0000\r\nMessage-ID: <p1@elsewhere.test>\r\nSubject: hi\r\n\r\nvisit http://fofresh.test/offer\r\n"
	if s, err := spamStatus(c.milter, probe); err != nil || strings.Contains(s, "REP_NS_SPAM") {
		t.Fatalf("node C before any report: %q %v", s, err)
	}
	for i := 1; i <= 4; i++ {
		msg := fmt.Sprintf("From: Deals <d@fospam%d.test>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <%d@fospam%d.test>\r\nSubject: deal %d\r\n\r\nBuy now at http://fospam%d.test/buy number %d\r\n", i, i, i, i, i, i*31337)
		if code, body, err := postReport(client, a.admin, msg); err != nil || code != 200 {
			t.Fatalf("report to node A: %d %s %v", code, body, err)
		}
	}
	if s, err := spamStatus(c.milter, probe); err != nil || !strings.Contains(s, "REP_NS_SPAM") {
		t.Fatalf("node C after four reports to node A: %q %v; want REP_NS_SPAM (the nameserver the spam shares)", s, err)
	}

	// The stream. Reports: every worker sends report n until a node
	// acknowledges it, then the next; only 200 and 503 are answers.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var (
		mu          sync.Mutex
		acked       []int
		failures    []string
		refused     atomic.Int64
		namedWait   atomic.Int64 // 503s that name the missing replica
		next        atomic.Int64
		verdicts    atomic.Int64
		unavailable atomic.Int64 // verdicts without reputation (REP_UNAVAILABLE)
		ackedAt     []time.Time
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			n := int(next.Add(1))
			deadline := time.Time{}
			for {
				if ctx.Err() != nil && deadline.IsZero() {
					// Finish the report in flight, within a minute.
					deadline = time.Now().Add(time.Minute)
				}
				if !deadline.IsZero() && time.Now().After(deadline) {
					fail("report %d never acknowledged", n)
					return
				}
				code, body, err := postReport(client, nodes[(w+n)%3].admin, failoverReport(n))
				switch {
				case err != nil:
					fail("report %d: %v", n, err)
					return
				case code == 200:
					mu.Lock()
					acked = append(acked, n)
					ackedAt = append(ackedAt, time.Now())
					mu.Unlock()
					if ctx.Err() != nil {
						return
					}
					n = int(next.Add(1))
				case code == 503:
					refused.Add(1)
					if strings.Contains(body, "replicas confirmed") && namedWait.Add(1) == 1 {
						t.Logf("refused: %s", strings.TrimSpace(body))
					}
					time.Sleep(100 * time.Millisecond)
				default:
					fail("report %d: %d %s (want 200, or 503 to send it again)", n, code, body)
					return
				}
			}
		})
	}
	// Verdicts: one checker per node; every message must get one.
	msg := "From: Offers <deals@sender1.fail.test>\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <check@fail.test>\r\nSubject: hi\r\n\r\nsee http://foshared.test/x\r\n"
	for _, nd := range nodes {
		wg.Go(func() {
			for ctx.Err() == nil {
				s, err := spamStatus(nd.milter, msg)
				if err != nil {
					fail("verdict: %v", err)
					return
				}
				verdicts.Add(1)
				if strings.Contains(s, "REP_UNAVAILABLE") {
					unavailable.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}

	start := time.Now()
	since := func() string { return fmt.Sprintf("%5.1fs", time.Since(start).Seconds()) }
	time.Sleep(3 * time.Second)
	before := verdicts.Load()
	killed := rds.killMaster(t, failoverPrefix+"k:domain:foshared.test")
	t.Logf("%s SIGKILL %s (%s), the master of the shared key", since(), killed.Name, killed.Addr())
	rds.waitFailover(t, killed)
	failedOver := time.Now()
	duringFailover := verdicts.Load() - before
	t.Logf("%s failed over; %d verdicts during the failover", since(), duringFailover)
	// The new master has no replica: reports are refused, not lost, and
	// the answer says why.
	named := time.Now().Add(time.Minute)
	for namedWait.Load() == 0 && time.Now().Before(named) {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%s a report refused for want of a replica", since())
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	rds.waitHealthy(t)
	healthy := time.Now()
	t.Logf("%s %s back, as a replica; replicas in sync", since(), killed.Name)
	time.Sleep(3 * time.Second)
	stop()
	wg.Wait()
	t.Logf("%s stream over: %d reports acknowledged, %d answered 503 (%d naming the missing replica); %d verdicts, %d without reputation",
		since(), len(acked), refused.Load(), namedWait.Load(), verdicts.Load(), unavailable.Load())

	for i, f := range failures {
		if i < 10 {
			t.Error(f)
		}
	}
	if duringFailover == 0 {
		t.Error("no verdict between the kill and the end of the failover: verdicts stopped")
	}
	if namedWait.Load() == 0 {
		t.Error("no report was refused with a 503 naming the missing replica within a minute after the failover, while the new master had none")
	}
	afterFailover, afterHealthy := 0, 0
	for _, at := range ackedAt {
		if at.After(failedOver) {
			afterFailover++
		}
		if at.After(healthy) {
			afterHealthy++
		}
	}
	if afterHealthy == 0 {
		t.Errorf("no report acknowledged once the replica was back (%d after the failover): the nodes did not reconnect", afterFailover)
	}

	// Every acknowledged report counted, exactly once.
	st, err := store.OpenRedis(rds.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := []string{"domain:foshared.test"}
	for _, n := range acked {
		ids = append(ids, fmt.Sprintf("domain:fo%d.test", n))
	}
	var counts []store.Counts
	waitFor(t, "the store to answer", func() bool {
		counts, err = st.Counts(context.Background(), ids)
		return err == nil
	})
	// Half-life 30 days: a minute's decay is under 2e-5.
	const tol = 1e-3
	if got := counts[0].Spam; math.Abs(got-float64(len(acked))) > tol*float64(len(acked)) {
		t.Errorf("the shared domain counts %.4f spam reports; %d were acknowledged", got, len(acked))
	}
	wrong := 0
	for i, n := range acked {
		if got := counts[i+1].Spam; math.Abs(got-1) > tol {
			wrong++
			if wrong <= 5 {
				t.Errorf("acknowledged report %d counts %.4f times, want once", n, got)
			}
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d acknowledged reports not counted exactly once", wrong, len(acked))
	}
	if len(acked) < 10 {
		t.Errorf("only %d reports acknowledged", len(acked))
	}
	// Node C reads what was learned through the failover.
	fresh := "From: New <x@elsewhere.test>\r\nDate: Sat, 28 Nov 2026 07:00:00 +0000\r\nMessage-ID: <p2@elsewhere.test>\r\nSubject: hi\r\n\r\nvisit http://foshared.test/other\r\n"
	if s, err := spamStatus(c.milter, fresh); err != nil || !strings.Contains(s, "REP_DOMAIN_SPAM") {
		t.Errorf("node C after the stream: %q %v; want REP_DOMAIN_SPAM for the shared domain", s, err)
	}
}
