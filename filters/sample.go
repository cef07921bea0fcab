package filters

// Sample is one value a check counts of its own, for the metrics endpoint
// (Prometheus). The engine collects the samples of every check that
// implements Counted and adds, on a configuration reload, what the
// replaced checks had counted, so the exported counts only grow.
type Sample struct {
	// Name is the family: vigil_<check>_<thing>_total for a count.
	Name string
	Help string
	// Gauge marks a level (a list's health, a size) rather than a count.
	Gauge bool
	// Labels are name, value pairs; every sample of a family has the same
	// names.
	Labels []string
	Value  float64
}

// Counted is a check that counts something of its own.
type Counted interface {
	Samples() []Sample
}

// CheckOutcome is how one check run ended, for metrics.
type CheckOutcome string

const (
	// CheckOK: the check returned without error.
	CheckOK CheckOutcome = "ok"
	// CheckIncomplete: part of its evidence could not be obtained (a DNS
	// lookup or store read unanswered; ErrIncomplete).
	CheckIncomplete CheckOutcome = "incomplete"
	// CheckError: the check failed.
	CheckError CheckOutcome = "error"
	// CheckPanic: the check panicked (recovered).
	CheckPanic CheckOutcome = "panic"
	// CheckTimeout: the check did not return before its deadline.
	CheckTimeout CheckOutcome = "timeout"
	// CheckSkipped: the check did not run (an earlier stage overran the
	// message deadline).
	CheckSkipped CheckOutcome = "skipped"
)
