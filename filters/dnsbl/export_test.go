package dnsbl

import "time"

// SetProbeRetry shortens the wait before re-probing after an unanswered
// probe (ProbeLoop) for tests.
func (c *Check) SetProbeRetry(d time.Duration) { c.probeRetry = d }
