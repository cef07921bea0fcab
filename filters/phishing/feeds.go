package phishing

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vigilmail/vigil/urlcheck"
)

// maxFeedBytes bounds one feed file read (the largest public feeds are
// a few MB).
const maxFeedBytes = 256 << 20

// feed is one loaded feed file, read again when it changes.
type feed struct {
	cfg Feed
	log *slog.Logger

	mu      sync.RWMutex
	entries map[string]bool
	checked time.Time
	mtime   time.Time
	size    int64
}

// refresh reads the file when it changed since the last read (checked
// at most every interval). A file that cannot be read keeps the entries
// already loaded: a feed being rewritten must not empty the list.
func (f *feed) refresh(now time.Time, interval time.Duration) {
	f.mu.RLock()
	fresh := !f.checked.IsZero() && now.Sub(f.checked) < interval
	f.mu.RUnlock()
	if fresh {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.checked.IsZero() && now.Sub(f.checked) < interval {
		return
	}
	f.checked = now
	st, err := os.Stat(f.cfg.File)
	if err != nil {
		f.log.Warn("phishing: feed unreadable; keeping what was loaded", "feed", f.cfg.Name, "err", err)
		return
	}
	if f.entries != nil && st.ModTime().Equal(f.mtime) && st.Size() == f.size {
		return
	}
	entries, err := readFeed(f.cfg.File, f.cfg.Kind)
	if err != nil {
		f.log.Warn("phishing: feed unreadable; keeping what was loaded", "feed", f.cfg.Name, "err", err)
		return
	}
	f.entries, f.mtime, f.size = entries, st.ModTime(), st.Size()
	f.log.Info("phishing: feed loaded", "feed", f.cfg.Name, "entries", len(entries))
}

// readFeed reads one entry a line: URLs as feedKey makes them, domains
// lower case without a trailing dot.
func readFeed(path, kind string) (map[string]bool, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(io.LimitReader(fh, maxFeedBytes))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if kind == "domain" {
			if d := urlcheck.DomainName(strings.TrimPrefix(line, "*.")); d != "" {
				out[d] = true
			}
			continue
		}
		if !strings.Contains(line, "://") {
			line = "http://" + line
		}
		if u, err := urlcheck.Normalize(line); err == nil && u.Host != "" {
			out[feedKey(u)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("phishing: feed %s: %w", path, err)
	}
	return out, nil
}

// feedKey is a URL without scheme, user info, port, fragment and
// trailing slash: host + path + query, as feeds list them.
func feedKey(u urlcheck.URL) string {
	s := u.String
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	host, rest, _ := strings.Cut(s, "/")
	if i := strings.LastIndexByte(host, '@'); i >= 0 {
		host = host[i+1:]
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return strings.TrimSuffix(host+"/"+rest, "/")
}

// match reports whether u is listed: a domain feed lists u's host or a
// parent of it; a URL feed lists u or a prefix of it that ends at a path
// segment or before the query.
func (f *feed) match(u urlcheck.URL) (string, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if len(f.entries) == 0 {
		return "", false
	}
	if f.cfg.Kind == "domain" {
		for h := strings.ToLower(u.Host); strings.Contains(h, "."); h = h[strings.IndexByte(h, '.')+1:] {
			if f.entries[h] {
				return h, true
			}
		}
		return "", false
	}
	k := feedKey(u)
	if f.entries[k] {
		return k, true
	}
	if i := strings.IndexByte(k, '?'); i >= 0 {
		k = k[:i]
		if f.entries[k] {
			return k, true
		}
	}
	for {
		i := strings.LastIndexByte(k, '/')
		if i < 0 {
			return "", false
		}
		k = k[:i]
		if f.entries[k] {
			return k, true
		}
	}
}
