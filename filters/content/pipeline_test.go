package content

import (
	"context"
	"testing"
	"time"

	"github.com/vigilmail/vigil/filters"
)

// factsReader is a later-stage check that reads what content wrote.
type factsReader struct{ domains []string }

func (f *factsReader) Name() string { return "reader" }
func (f *factsReader) Run(_ context.Context, m *filters.Message) ([]filters.Symbol, error) {
	f.domains = m.Facts.Content.Domains
	return nil, nil
}

// TestInPipeline wires the check the way the daemon does: stage auth, read
// by a stage-reputation check.
func TestInPipeline(t *testing.T) {
	c, err := New(DefaultConfig(), Deps{})
	if err != nil {
		t.Fatal(err)
	}
	r := &factsReader{}
	p := filters.NewPipeline(5*time.Second, 10*time.Second, nil)
	p.Add(filters.StageAuth, c, filters.FailOpen)
	p.Add(filters.StageReputation, r, filters.FailOpen)
	m := &filters.Message{
		Headers: []filters.Header{{Name: "Content-Type", Value: " text/html"}},
		Body:    filters.BytesBody(`<a href="http://www.shop.example.com/">https://www.bank.co.uk/</a> mail x@mail.example.org`),
	}
	syms := p.Run(context.Background(), m)
	want := []string{"example.com", "example.org"}
	if len(r.domains) != 2 || r.domains[0] != want[0] || r.domains[1] != want[1] {
		t.Errorf("later stage saw domains %q, want %q", r.domains, want)
	}
	if !hasSymbol(syms, SymPhishMismatch) || hasSymbol(syms, filters.ErrorSymbol("content")) {
		t.Errorf("symbols %v", names(syms))
	}
}
