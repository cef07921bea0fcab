package dnsrep

import "time"

// SetNow replaces the resolver's clock, for TTL tests.
func SetNow(r *Resolver, now func() time.Time) { r.now = now }
