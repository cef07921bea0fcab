package filters

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A job never waits for a busy worker: with one worker held by a job that
// does not return, the next job still runs.
func TestWorkerPoolNeverQueues(t *testing.T) {
	w := workerPool{jobs: make(chan func())}
	release := make(chan struct{})
	held := make(chan struct{})
	w.run(func() { close(held); <-release })
	<-held
	ran := make(chan struct{})
	w.run(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("a job waited for a worker held by another job")
	}
	close(release)

	// Jobs run back to back and at once all run, each exactly once.
	var n atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		w.run(func() { n.Add(1); wg.Done() })
		if i%50 == 0 {
			wg.Wait()
		}
	}
	wg.Wait()
	if n.Load() != 200 {
		t.Errorf("%d jobs ran, want 200", n.Load())
	}
}

// A job that panics despite the rule ends its worker, not the process;
// later jobs run.
func TestWorkerPoolSurvivesPanic(t *testing.T) {
	w := workerPool{jobs: make(chan func())}
	w.run(func() { panic("job without its own recover") })
	ran := make(chan struct{})
	w.run(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(30 * time.Second):
		t.Fatal("job after a panicking one did not run")
	}
}
