package lists

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// LineError is one entry of a list file that could not be used.
type LineError struct {
	File  string
	Line  int
	Entry string
	Err   error
}

func (e LineError) Error() string {
	return fmt.Sprintf("%s:%d: %q: %v", e.File, e.Line, e.Entry, e.Err)
}

// maxLine bounds one line of a list file: an entry is a domain (253
// bytes), an address or a prefix, with a comment.
const maxLine = 64 << 10

// readEntries adds the entries of the file at path to s. A line that is
// not an entry is returned as a LineError and skipped; an error is
// returned only when the file cannot be read (then s is incomplete).
// Everything after # on a line is a comment.
func readEntries(path string, kind entryKind, s *set) ([]LineError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	defer f.Close()
	// Room for one entry per line before reading them: a map grown
	// entry by entry rehashes a million entries some twenty times, and
	// counting lines costs a few milliseconds per million.
	if lines, err := countLines(f); err == nil {
		s.grow(kind, lines)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("lists: %s: %w", path, err)
	}
	return parseEntries(f, path, kind, s)
}

func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := r.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n + 1, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func parseEntries(r io.Reader, path string, kind entryKind, s *set) ([]LineError, error) {
	var bad []LineError
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if err := s.add(kind, line); err != nil {
			bad = append(bad, LineError{File: path, Line: n, Entry: line, Err: err})
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return bad, fmt.Errorf("lists: %s:%d: line longer than %d bytes", path, n+1, maxLine)
		}
		return bad, fmt.Errorf("lists: %s: %w", path, err)
	}
	return bad, nil
}

// fileStamp says whether a file changed: its size, modification time and
// inode (an editor or a deploy tool that writes a new file and renames it
// over the old one changes the inode, perhaps nothing else).
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}
