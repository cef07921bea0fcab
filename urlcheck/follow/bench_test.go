package follow

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkFollow follows one URL redirecting once to an HTML page on
// loopback: cold (cache off) and warm (cache hit).
func BenchmarkFollow(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  int
	}{{"cold", -1}, {"warm", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnvTB(b, func(o *Options) {
				if tc.ttl < 0 {
					o.CacheTTL = -1
				}
			})
			e.redirect("/s", e.url("landing.example", "/page"), http.StatusFound)
			e.page("/page", "text/html", loginPage)
			u := e.url("short.example", "/s")
			if r := e.f.Follow(context.Background(), u); r.Outcome != OutcomeLanded {
				b.Fatalf("outcome %s (%s)", r.Outcome, r.Detail)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e.f.Follow(context.Background(), u)
			}
		})
	}
}
