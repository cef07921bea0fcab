package main

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
)

// greeter is an SMTP server that only greets: a stand-in for an MTA.
func greeter(t *testing.T, ln net.Listener, greeting string) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "220 %s\r\n", greeting)
			c.Close()
		}
	}()
}

// holdPickedPort makes another server hold a port and pickPort hand out
// that port first; it returns the port and the count of ports picked.
func holdPickedPort(t *testing.T) (taken int, picks *int) {
	foreign, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	greeter(t, foreign, "someone else")
	taken = foreign.Addr().(*net.TCPAddr).Port
	picks = new(int)
	pickPort = func(t testing.TB) int {
		*picks++
		if *picks == 1 {
			return taken
		}
		return freePort(t)
	}
	t.Cleanup(func() { pickPort = freePort })
	return taken, picks
}

// TestStartWithPortRetry gives startWithPortRetry a port another server
// already holds, first to an MTA that reports the bind failure (Postfix),
// then to one that stays quiet about it (Sendmail): both must end up on
// another port, greeting with their banner.
func TestStartWithPortRetry(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		t.Run(fmt.Sprintf("quiet=%v", quiet), func(t *testing.T) {
			taken, picks := holdPickedPort(t)

			var mine net.Listener
			start := func(addr string) (bool, <-chan struct{}, error) {
				ln, err := net.Listen("tcp", addr)
				if errors.Is(err, syscall.EADDRINUSE) {
					return !quiet, nil, nil
				}
				if err != nil {
					return false, nil, err
				}
				mine = ln
				greeter(t, ln, "mx.example.test ESMTP banner-123")
				return false, nil, nil
			}
			stop := func() {
				if mine != nil {
					mine.Close()
					mine = nil
				}
			}
			addr := startWithPortRetry(t, "fake MTA", "banner-123", start, stop)
			if *picks != 2 || strings.HasSuffix(addr, fmt.Sprintf(":%d", taken)) {
				t.Fatalf("started on %s after %d picks; want a second port", addr, *picks)
			}
			if g, err := waitGreeting(addr, 0, nil); err != nil || !strings.Contains(g, "banner-123") {
				t.Fatalf("greeting on %s: %q %v", addr, g, err)
			}
		})
	}
}

// TestE2EPortCollision starts the real Postfix and Sendmail on a port
// another server holds: each must notice (Postfix's master fails to bind,
// Sendmail's greeting is not its own) and come up on another port.
func TestE2EPortCollision(t *testing.T) {
	e2eEnv(t)
	for _, mta := range []string{"postfix", "sendmail"} {
		t.Run(mta, func(t *testing.T) {
			taken, picks := holdPickedPort(t)
			root := scratchDir(t, "vigil-e2e-")
			// No Vigil: the milter address only has to be well formed.
			var m interface{ smtpAddr() string }
			if mta == "postfix" {
				m = startPostfix(t, root, "inet:127.0.0.1:9", "accept")
			} else {
				m = startSendmail(t, root, "127.0.0.1:9", "accept")
			}
			if *picks < 2 || strings.HasSuffix(m.smtpAddr(), fmt.Sprintf(":%d", taken)) {
				t.Fatalf("%s on %s after %d picks; want it moved off the taken port %d", mta, m.smtpAddr(), *picks, taken)
			}
		})
	}
}
