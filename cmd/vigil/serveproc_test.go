package main

import (
	"net"
	"os/exec"
	"testing"
)

// serveProc is a `vigil serve` run by a test, its stderr captured.
type serveProc struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
}

// startServe runs vigil serve --config cfgPath and waits until the milter
// address accepts connections. At the end of the test the process is
// killed and, when the test failed, the last logTail bytes of its log are
// shown.
func startServe(t *testing.T, cfgPath, milterAddr string, logTail int) *serveProc {
	t.Helper()
	p := &serveProc{logs: &syncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(vigilBinary(t), "serve", "--config", cfgPath)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
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
	waitFor(t, "vigil to listen", func() bool {
		c, err := net.Dial("tcp", milterAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}
