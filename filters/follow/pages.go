package follow

import (
	"context"
	"sync"

	linkfollow "github.com/vigilmail/vigil/urlcheck/follow"
)

// MemoryPages is an in-memory PageReputation: learned fingerprints with
// their spam and ham counts, matched exactly or nearly (Fingerprint.Matches).
// It is bounded; the oldest entry goes first.
type MemoryPages struct {
	mu    sync.Mutex
	max   int
	pages []memPage
}

type memPage struct {
	fp        linkfollow.Fingerprint
	spam, ham float64
}

// NewMemoryPages returns an empty store of at most max pages (0: 10000).
func NewMemoryPages(max int) *MemoryPages {
	if max <= 0 {
		max = 10000
	}
	return &MemoryPages{max: max}
}

// Seen sums the counts of every learned page matching fp.
func (p *MemoryPages) Seen(ctx context.Context, fp linkfollow.Fingerprint) (spam, ham float64, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.pages {
		if e.fp.Matches(fp) {
			spam += e.spam
			ham += e.ham
		}
	}
	return spam, ham, nil
}

// Learn adds one report of fp.
func (p *MemoryPages) Learn(ctx context.Context, fp linkfollow.Fingerprint, spam bool) error {
	if fp.IsZero() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.pages {
		if p.pages[i].fp.Hash == fp.Hash {
			if spam {
				p.pages[i].spam++
			} else {
				p.pages[i].ham++
			}
			return nil
		}
	}
	e := memPage{fp: fp}
	if spam {
		e.spam = 1
	} else {
		e.ham = 1
	}
	if len(p.pages) >= p.max {
		p.pages = p.pages[1:]
	}
	p.pages = append(p.pages, e)
	return nil
}
