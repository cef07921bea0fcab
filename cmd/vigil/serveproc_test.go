package main

import (
	"net"
	"os/exec"
	"testing"
	"time"
)

// serveProc is a `vigil serve` run by a test, its stderr captured.
type serveProc struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
	done   chan struct{} // closed when the process has exited
	// addr is the milter address it listens on.
	addr string
}

// startServe runs vigil serve --config cfgPath and waits until the milter
// address accepts connections: milterAddr, or with milterAddr "" (port 0
// in the config's milter.listen, which leaves no window for another
// process to take a chosen port) the address its "vigil serving" log line
// reports. At the end of the test the process is killed and, when the test
// failed, the last logTail bytes of its log are shown.
func startServe(t *testing.T, cfgPath, milterAddr string, logTail int) *serveProc {
	t.Helper()
	p := &serveProc{logs: &syncBuffer{}, exited: make(chan error, 1), done: make(chan struct{})}
	p.cmd = exec.Command(vigilBinary(t), "serve", "--config", cfgPath)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exited <- p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			log := p.logs.String()
			if len(log) > logTail {
				log = "...\n" + log[len(log)-logTail:]
			}
			t.Logf("vigil log:\n%s", log)
		}
	})
	if milterAddr == "" {
		a, err := waitLogAddr(p.logs.String, "vigil serving", 20*time.Second, p.done)
		if err != nil {
			t.Fatal(err)
		}
		milterAddr = a
	}
	p.addr = milterAddr
	waitFor(t, "vigil to listen", func() bool {
		c, err := net.Dial("tcp", milterAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

// adminAddr is the address the admin listener bound, from its log line
// (admin.listen with port 0).
func (p *serveProc) adminAddr(t *testing.T) string {
	t.Helper()
	a, err := waitLogAddr(p.logs.String, "admin listener", 20*time.Second, p.done)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
