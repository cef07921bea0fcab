package follow

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkRun measures the latency the check adds to one message with 5
// shortener links, each redirecting once to a landing page, on loopback:
// cold (cache off: every hop resolved, connected and fetched) and warm
// (every URL served from the result cache).
func BenchmarkRun(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  bool
	}{{"cold", false}, {"warm", true}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, func(c *Config, d *Deps) {
				if !tc.ttl {
					c.CacheTTL = 0
				}
			})
			e.mux.HandleFunc("/s/", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, e.url("landing.example", "/page"+r.URL.Path[2:]), http.StatusFound)
			})
			e.mux.HandleFunc("/page/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, loginPage) })
			var urls []string
			for i := 0; i < 5; i++ {
				urls = append(urls, e.url("short.example", "/s/"+strconv.Itoa(i)))
			}
			m := e.message("a <a@b.example>", urls...)
			if _, err := e.c.Run(context.Background(), m); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := e.c.Run(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if tc.ttl && e.hits.Load() != 10 {
				b.Errorf("warm: %d requests, want the 10 of the priming run", e.hits.Load())
			}
		})
	}
}
