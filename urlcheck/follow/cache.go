package follow

import (
	"context"
	"sync"
)

// hostLimiter bounds concurrent requests per host. Slots of idle hosts are
// dropped, so the map holds only hosts in use.
type hostLimiter struct {
	n     int
	mu    sync.Mutex
	slots map[string]*hostSlot
}

type hostSlot struct {
	ch   chan struct{}
	refs int
}

func newHostLimiter(n int) *hostLimiter {
	return &hostLimiter{n: n, slots: map[string]*hostSlot{}}
}

func (l *hostLimiter) acquire(ctx context.Context, host string) (func(), error) {
	l.mu.Lock()
	s := l.slots[host]
	if s == nil {
		s = &hostSlot{ch: make(chan struct{}, l.n)}
		l.slots[host] = s
	}
	s.refs++
	l.mu.Unlock()
	unref := func() {
		l.mu.Lock()
		s.refs--
		if s.refs == 0 {
			delete(l.slots, host)
		}
		l.mu.Unlock()
	}
	select {
	case s.ch <- struct{}{}:
		return func() { <-s.ch; unref() }, nil
	case <-ctx.Done():
		unref()
		return nil, ctx.Err()
	}
}
