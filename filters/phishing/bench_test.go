package phishing

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCheck is the check's cost on a newsletter-like message (a
// display name, a subject, 20 links with anchor texts) and on one with
// 500 links, the content check's cap. Run:
//
//	go test -run '^$' -bench Check -benchmem ./filters/phishing
func BenchmarkCheck(b *testing.B) {
	c, err := New(DefaultConfig(), Deps{})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{20, 500} {
		tm := testMessage{from: `"Weekly Deals Team" <news@shop.example>`, subject: "This week's offers on garden furniture",
			text: "Hello, this week we have new offers for your garden and your kitchen."}
		for i := 0; i < n; i++ {
			tm.links = append(tm.links, fmt.Sprintf("https://link%d.shop-%d.example/item?id=%d|Item number %d, now cheaper", i, i%7, i, i))
		}
		m := tm.build()
		b.Run(fmt.Sprintf("links=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := c.Run(context.Background(), m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlain is the check on the load benchmark's message: a display
// name, a subject, one link.
func BenchmarkPlain(b *testing.B) {
	c, err := New(DefaultConfig(), Deps{})
	if err != nil {
		b.Fatal(err)
	}
	m := testMessage{from: "Sender <sender@example.test>", subject: "load test",
		text: "Hello, this is a load test message with a link https://www.example.test/page.", links: []string{"https://www.example.test/page"}}.build()
	m.Facts.Content.URLs[0].Source = "text"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := c.Run(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
}
