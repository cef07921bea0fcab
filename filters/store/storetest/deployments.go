package storetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vigilmail/vigil/filters/sharedtest"
)

// Real Redis deployments on loopback for tests: a Redis Cluster (masters
// with replicas, made by redis-cli --cluster create) and a Sentinel group
// (a master, a replica, three sentinels). Each server is a redis-server
// process of the test's own, on ports chosen at run time, that a test can
// kill with SIGKILL and start again; all are killed when the test ends.
// A cluster node needs a known port (it announces it to the others), so
// ports are taken free from the kernel and a server that cannot bind one
// is started again on others.

// Server is one redis-server (or sentinel) process.
type Server struct {
	Name string
	Port int
	tb   testing.TB
	bin  string
	dir  string
	// args build the command line from the port.
	args func(port int) []string
	// tls, when set, is how the readiness probe and Client connect.
	tls *tls.Config

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Addr is HOST:PORT of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Client returns a client of this one server; the caller closes it.
func (s *Server) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr(), DialTimeout: 2 * time.Second,
		ReadTimeout: 5 * time.Second, MaxRetries: -1, DisableIdentity: true, TLSConfig: s.tls})
}

// Kill sends SIGKILL and waits for the process to end: no shutdown, no
// final save, connections reset.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Running reports whether the process is up (it may not answer yet).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Start starts the process again with the same port, directory and
// options (a cluster node finds its identity in nodes.conf there), and
// waits until it answers.
func (s *Server) Start() error {
	cmd := exec.Command(s.bin, s.args(s.Port)...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start (port %d taken?); log:\n%s", s.Name, s.Port, s.LogTail(2000))
		default:
		}
		c := s.Client()
		err := c.Ping(context.Background()).Err()
		c.Close()
		// A server with ACL users may refuse the default user: it
		// answers, which is all this waits for.
		if err == nil || redis.IsAuthError(err) || strings.Contains(err.Error(), "NOAUTH") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer on %s", s.Name, s.Addr())
}

// LogTail is the end of the server's log file.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		p := l.Addr().(*net.TCPAddr).Port
		out = append(out, p)
	}
	return out, nil
}

func redisBinaries(tb testing.TB, tools ...string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, t := range tools {
		p, err := exec.LookPath(t)
		if err != nil {
			sharedtest.Unavailable(tb, "%s is not installed (apt-get install redis-server; test.sh installs it); the Redis Cluster and Sentinel tests need it", t)
		}
		out[t] = p
	}
	return out
}

// startServer starts a server in its own directory on a free port (and
// a second free port for a cluster node's bus), trying other ports when
// the first ones were taken meanwhile. It is killed when the test ends.
func startServer(tb testing.TB, bin, name string, args func(port, bus int, dir string) []string) *Server {
	return startServerTLS(tb, bin, name, nil, args)
}

func startServerTLS(tb testing.TB, bin, name string, probe *tls.Config, args func(port, bus int, dir string) []string) *Server {
	tb.Helper()
	dir, err := os.MkdirTemp("", "vigil-"+name)
	if err != nil {
		tb.Fatal(err)
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			tb.Fatal(err)
		}
		bus := ports[1]
		s := &Server{Name: name, Port: ports[0], tb: tb, bin: bin, dir: dir, tls: probe}
		s.args = func(port int) []string { return args(port, bus, dir) }
		if last = s.Start(); last == nil {
			tb.Cleanup(func() {
				s.Kill()
				if tb.Failed() {
					tb.Logf("%s (%s) log tail:\n%s", s.Name, s.Addr(), s.LogTail(3000))
				}
				os.RemoveAll(dir)
			})
			return s
		}
		s.Kill()
	}
	tb.Fatalf("starting %s: %v", name, last)
	return nil
}

// StartStandalone starts one redis-server on loopback TCP, without
// persistence (for measurements over TCP, as between machines, and of a
// server of the test's own).
func StartStandalone(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	bin := redisBinaries(tb, "redis-server")["redis-server"]
	return startServer(tb, bin, "redis", func(port, _ int, dir string) []string {
		return append(baseArgs(port, dir), extra...)
	})
}

// StartTLS starts a redis-server that takes TLS connections only, with
// the given certificate and key files, on loopback; probe is the client
// side TLS configuration its readiness probe (and Client) use. extra are
// more redis-server options (--user ...).
func StartTLS(tb testing.TB, certFile, keyFile string, probe *tls.Config, extra ...string) *Server {
	tb.Helper()
	bin := redisBinaries(tb, "redis-server")["redis-server"]
	return startServerTLS(tb, bin, "redis-tls", probe, func(port, _ int, dir string) []string {
		args := append(baseArgs(0, dir), "--tls-port", strconv.Itoa(port), "--tls-cert-file", certFile,
			"--tls-key-file", keyFile, "--tls-auth-clients", "no")
		return append(args, extra...)
	})
}

// baseArgs are the options of every data server here: loopback only, no
// persistence (a replica holds the copy that survives), replicas that
// sync at once.
func baseArgs(port int, dir string) []string {
	return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"), "--save", "", "--appendonly", "no",
		"--repl-diskless-sync-delay", "0"}
}

// Cluster is a Redis Cluster of the test's own.
type Cluster struct {
	Nodes []*Server
	tb    testing.TB
}

// NodeTimeout is the cluster's cluster-node-timeout: a master that does
// not answer for this long is failed over to its replica.
const NodeTimeout = 2 * time.Second

// StartCluster starts masters×(1+replicas) cluster nodes, joins them with
// redis-cli --cluster create (the first masters are masters, the others
// their replicas) and waits until every slot is served and every replica
// is in sync.
func StartCluster(tb testing.TB, masters, replicas int) *Cluster {
	tb.Helper()
	bins := redisBinaries(tb, "redis-server", "redis-cli")
	c := &Cluster{tb: tb}
	for i := 0; i < masters*(1+replicas); i++ {
		c.Nodes = append(c.Nodes, startServer(tb, bins["redis-server"], fmt.Sprintf("cluster-node-%d", i),
			func(port, bus int, dir string) []string {
				return append(baseArgs(port, dir), "--cluster-enabled", "yes",
					"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
					"--cluster-port", strconv.Itoa(bus),
					"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout/time.Millisecond)))
			}))
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bins["redis-cli"], args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitHealthy(replicas)
	return c
}

// Addrs are the addresses of every node (seeds for a client).
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// Node is the node at addr, nil when none.
func (c *Cluster) Node(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// info returns the fields of INFO section (or CLUSTER INFO) of one server.
func info(ctx context.Context, s *Server, cluster bool, section string) (map[string]string, error) {
	cl := s.Client()
	defer cl.Close()
	var text string
	var err error
	if cluster {
		text, err = cl.ClusterInfo(ctx).Result()
	} else {
		text, err = cl.Info(ctx, section).Result()
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out, nil
}

// syncedReplicas is the number of replicas of the master s that are online
// (synced, and following its replication stream); false when s is not a
// master.
func syncedReplicas(ctx context.Context, s *Server) (int, bool, error) {
	f, err := info(ctx, s, false, "replication")
	if err != nil {
		return 0, false, err
	}
	if f["role"] != "master" {
		return 0, false, nil
	}
	n := 0
	for k, v := range f {
		// slave0:ip=127.0.0.1,port=7004,state=online,offset=123,lag=0
		if strings.HasPrefix(k, "slave") && strings.Contains(v, "state=online") {
			n++
		}
	}
	return n, true, nil
}

// Masters are the running nodes that are masters now.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if _, master, err := syncedReplicas(context.Background(), n); err == nil && master {
			out = append(out, n)
		}
	}
	return out
}

// Healthy reports whether every running node says cluster_state:ok and
// sees the same epoch, and every master that serves slots has at least
// replicas replicas in sync; otherwise why not.
func (c *Cluster) Healthy(replicas int) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	epoch := ""
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		f, err := info(ctx, n, true, "")
		if err != nil {
			return false, n.Name + ": " + err.Error()
		}
		if f["cluster_state"] != "ok" {
			return false, fmt.Sprintf("%s: cluster_state %s", n.Name, f["cluster_state"])
		}
		if epoch == "" {
			epoch = f["cluster_current_epoch"]
		} else if f["cluster_current_epoch"] != epoch {
			return false, "the nodes disagree on the epoch"
		}
	}
	masters := 0
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		f, err := info(ctx, n, false, "replication")
		if err != nil {
			return false, n.Name + ": " + err.Error()
		}
		if f["role"] != "master" {
			if f["master_link_status"] != "up" {
				return false, n.Name + ": replica link " + f["master_link_status"]
			}
			continue
		}
		masters++
		got, _, err := syncedReplicas(ctx, n)
		if err != nil {
			return false, n.Name + ": " + err.Error()
		}
		if got < replicas {
			return false, fmt.Sprintf("%s: %d of %d replicas in sync", n.Name, got, replicas)
		}
	}
	if masters == 0 {
		return false, "no master"
	}
	return true, ""
}

// WaitHealthy waits (up to two minutes: a loaded machine) until Healthy.
func (c *Cluster) WaitHealthy(replicas int) {
	c.tb.Helper()
	waitUntil(c.tb, "the cluster to be healthy", 2*time.Minute, func() (bool, string) { return c.Healthy(replicas) })
}

// FailedOver reports whether every running node marks killed as failed
// and gives it no slots (its replica took them over), and the cluster is
// ok again; otherwise why not.
func (c *Cluster) FailedOver(killed *Server) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		cl := n.Client()
		nodes, err := cl.ClusterNodes(ctx).Result()
		cl.Close()
		if err != nil {
			return false, n.Name + ": " + err.Error()
		}
		for _, line := range strings.Split(nodes, "\n") {
			// <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot>...
			f := strings.Fields(line)
			if len(f) < 8 || !strings.HasPrefix(f[1], killed.Addr()+"@") {
				continue
			}
			if !strings.Contains(f[2], "fail") || strings.Contains(f[2], "fail?") {
				return false, fmt.Sprintf("%s sees %s as %s", n.Name, killed.Name, f[2])
			}
			if len(f) > 8 {
				return false, fmt.Sprintf("%s still gives %s slots %v", n.Name, killed.Name, f[8:])
			}
		}
	}
	return c.Healthy(0)
}

// WaitFailover waits (up to two minutes) until FailedOver.
func (c *Cluster) WaitFailover(killed *Server) {
	c.tb.Helper()
	waitUntil(c.tb, "the cluster to fail "+killed.Name+" over", 2*time.Minute, func() (bool, string) { return c.FailedOver(killed) })
}

// MasterFor is the node that serves key now.
func (c *Cluster) MasterFor(ctx context.Context, key string) (*Server, error) {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.runningAddrs(), DisableIdentity: true})
	defer cc.Close()
	m, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	if n := c.Node(m.Options().Addr); n != nil {
		return n, nil
	}
	return nil, fmt.Errorf("storetest: master %s of %q is not one of the cluster's nodes", m.Options().Addr, key)
}

func (c *Cluster) runningAddrs() []string {
	var out []string
	for _, n := range c.Nodes {
		if n.Running() {
			out = append(out, n.Addr())
		}
	}
	return out
}

// Sentinel is a master, its replica and three sentinels monitoring it.
type Sentinel struct {
	// Name is the master's name at the sentinels (reputation.redis.master_name).
	Name      string
	Data      []*Server // the master and the replica, as started
	Sentinels []*Server
	tb        testing.TB
}

// DownAfter is the sentinels' down-after-milliseconds: a master silent
// for this long is failed over.
const DownAfter = 2 * time.Second

// StartSentinel starts a master, one replica of it and three sentinels
// (quorum 2), and waits until the sentinels know the replica and each
// other, so that a failover can happen.
func StartSentinel(tb testing.TB, name string) *Sentinel {
	tb.Helper()
	bins := redisBinaries(tb, "redis-server")
	s := &Sentinel{Name: name, tb: tb}
	master := startServer(tb, bins["redis-server"], "sentinel-master", func(port, _ int, dir string) []string {
		return baseArgs(port, dir)
	})
	replica := startServer(tb, bins["redis-server"], "sentinel-replica", func(port, _ int, dir string) []string {
		return append(baseArgs(port, dir), "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	})
	s.Data = []*Server{master, replica}
	for i := 0; i < 3; i++ {
		s.Sentinels = append(s.Sentinels, startServer(tb, bins["redis-server"], fmt.Sprintf("sentinel-%d", i),
			func(port, _ int, dir string) []string {
				// A sentinel rewrites its configuration file: one per
				// sentinel, in its own directory, written afresh only
				// at the first start (a restart keeps what it learnt).
				conf := filepath.Join(dir, "sentinel.conf")
				if _, err := os.Stat(conf); errors.Is(err, os.ErrNotExist) || port != portInConf(conf) {
					body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"+
						"sentinel monitor %s 127.0.0.1 %d 2\n"+
						"sentinel down-after-milliseconds %s %d\n"+
						"sentinel failover-timeout %s 20000\n"+
						"sentinel parallel-syncs %s 1\n",
						port, dir, filepath.Join(dir, "redis.log"), name, master.Port,
						name, DownAfter/time.Millisecond, name, name)
					if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
						tb.Fatal(err)
					}
				}
				return []string{conf, "--sentinel"}
			}))
	}
	s.WaitHealthy()
	return s
}

// portInConf is the port a sentinel configuration file names (0: none).
func portInConf(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "port "); ok {
			p, _ := strconv.Atoi(strings.TrimSpace(v))
			return p
		}
	}
	return 0
}

// Addrs are the sentinels' addresses (reputation.redis.addrs).
func (s *Sentinel) Addrs() []string {
	var out []string
	for _, n := range s.Sentinels {
		out = append(out, n.Addr())
	}
	return out
}

// Master is the data server the sentinels name as master now.
func (s *Sentinel) Master(ctx context.Context) (*Server, error) {
	var last error
	for _, sn := range s.Sentinels {
		if !sn.Running() {
			continue
		}
		cl := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr(), DialTimeout: 2 * time.Second, DisableIdentity: true})
		addr, err := cl.GetMasterAddrByName(ctx, s.Name).Result()
		cl.Close()
		if err != nil {
			last = err
			continue
		}
		for _, d := range s.Data {
			if len(addr) == 2 && d.Addr() == net.JoinHostPort(addr[0], addr[1]) {
				return d, nil
			}
		}
		return nil, fmt.Errorf("storetest: sentinels name %v, not one of the data servers", addr)
	}
	return nil, fmt.Errorf("storetest: no sentinel answered: %v", last)
}

// Healthy reports whether every running sentinel names the same running
// master, knows the other two sentinels and a replica, and the master has
// every running data server in sync as its replica.
func (s *Sentinel) Healthy() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := s.Master(ctx)
	if err != nil {
		return false, err.Error()
	}
	if !m.Running() {
		return false, "the sentinels name " + m.Name + ", which is down"
	}
	for _, sn := range s.Sentinels {
		if !sn.Running() {
			continue
		}
		cl := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr(), DialTimeout: 2 * time.Second, DisableIdentity: true})
		f, err := cl.Master(ctx, s.Name).Result()
		cl.Close()
		if err != nil {
			return false, sn.Name + ": " + err.Error()
		}
		if net.JoinHostPort(f["ip"], f["port"]) != m.Addr() {
			return false, sn.Name + " names another master"
		}
		if f["num-other-sentinels"] != "2" || f["num-slaves"] == "0" || strings.Contains(f["flags"], "down") {
			return false, fmt.Sprintf("%s: other sentinels %s, replicas %s, flags %s", sn.Name, f["num-other-sentinels"], f["num-slaves"], f["flags"])
		}
	}
	want := 0
	for _, d := range s.Data {
		if d.Running() && d != m {
			want++
		}
	}
	got, master, err := syncedReplicas(ctx, m)
	if err != nil || !master {
		return false, fmt.Sprintf("%s: not a master yet (%v)", m.Name, err)
	}
	if got < want || want == 0 {
		return false, fmt.Sprintf("%s: %d of %d replicas in sync", m.Name, got, want)
	}
	return true, ""
}

// WaitFailover waits (up to two minutes) until the sentinels name a master
// other than killed and it acts as one.
func (s *Sentinel) WaitFailover(killed *Server) {
	s.tb.Helper()
	waitUntil(s.tb, "the sentinels to fail "+killed.Name+" over", 2*time.Minute, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := s.Master(ctx)
		if err != nil {
			return false, err.Error()
		}
		if m == killed {
			return false, "the sentinels still name " + killed.Name
		}
		if _, master, err := syncedReplicas(ctx, m); err != nil || !master {
			return false, fmt.Sprintf("%s is named but not a master yet (%v)", m.Name, err)
		}
		return true, ""
	})
}

// WaitHealthy waits (up to two minutes) until Healthy.
func (s *Sentinel) WaitHealthy() {
	s.tb.Helper()
	waitUntil(s.tb, "the sentinel group to be healthy", 2*time.Minute, s.Healthy)
}

// waitUntil polls ok every 100 ms until it holds or timeout passes, then
// fails the test with ok's last reason.
func waitUntil(tb testing.TB, what string, timeout time.Duration, ok func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	why := ""
	for time.Now().Before(deadline) {
		var done bool
		if done, why = ok(); done {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("waited %s for %s: %s", timeout, what, why)
}
