package filters

import (
	"fmt"
	"log/slog"
	"time"
)

// checkWorkers runs the pipeline's checks on goroutines that outlive one
// check. A goroutine per check per stage started every check on a fresh
// small stack that then grew by copying (runtime.newstack was 3% of the
// daemon's CPU under load). A worker that finishes a check waits a while
// for the next one and keeps its grown stack.
//
// Nothing queues: a check goes to a worker that is waiting at that very
// moment, or to a new goroutine. So every check of a stage still runs at
// once, a check that overstays its deadline holds only its own worker,
// and per-check timeouts, panic recovery (inside the job) and the stage
// wait are what they were. Waiting workers are bounded by the peak number
// of checks running at once and leave after workerIdle without work.
var checkWorkers = workerPool{jobs: make(chan func())}

// workerIdle is how long a worker waits for another check before it
// exits: long enough to span the gaps between messages under load,
// short enough that an idle daemon keeps no pool.
const workerIdle = 2 * time.Second

type workerPool struct {
	jobs chan func()
}

// run starts job on a waiting worker or, when none is waiting, on a new
// one. job must not panic (the pipeline's jobs recover their checks').
func (w *workerPool) run(job func()) {
	select {
	case w.jobs <- job:
	default:
		go w.work(job)
	}
}

func (w *workerPool) work(job func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	defer func() {
		// Jobs recover their own panics; this only keeps a broken job
		// from taking the daemon down. The worker leaves.
		if r := recover(); r != nil {
			slog.Error("filters: check worker panicked", "panic", fmt.Sprint(r))
		}
	}()
	for {
		job()
		idle.Reset(workerIdle)
		select {
		case job = <-w.jobs:
		case <-idle.C:
			return
		}
	}
}
