package milter

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/vigilmail/vigil/filters"
)

// Spool holds a message body: in memory up to memLimit bytes, spilled to a
// temporary file beyond that, and not stored at all beyond maxSize (the
// message is then judged on headers and envelope only). It is not safe for
// concurrent writes; once Finish is called, the Body it returns may be read
// concurrently.
type Spool struct {
	memLimit int64
	maxSize  int64
	dir      string

	mem       *bytes.Buffer
	file      *os.File
	size      int64 // bytes received, including what was not stored
	truncated bool
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// NewSpool returns an empty spool. dir is where spill files go ("" = os.TempDir).
func NewSpool(memLimit, maxSize int64, dir string) *Spool {
	return &Spool{memLimit: memLimit, maxSize: maxSize, dir: dir}
}

// Write appends body bytes. It never fails for size reasons: bytes past
// maxSize are counted and dropped.
func (s *Spool) Write(p []byte) (int, error) {
	n := len(p)
	s.size += int64(n)
	if s.truncated {
		return n, nil
	}
	if s.size > s.maxSize {
		s.truncated = true
		s.release()
		return n, nil
	}
	if s.file != nil {
		if _, err := s.file.Write(p); err != nil {
			return 0, fmt.Errorf("milter: spool: %w", err)
		}
		return n, nil
	}
	if s.mem == nil {
		s.mem = bufPool.Get().(*bytes.Buffer)
		s.mem.Reset()
	}
	if int64(s.mem.Len()+len(p)) > s.memLimit {
		f, err := os.CreateTemp(s.dir, "vigil-spool-*")
		if err != nil {
			return 0, fmt.Errorf("milter: spool: %w", err)
		}
		// Unlink at once: the open descriptor keeps the data, and nothing is
		// left behind if the daemon dies.
		_ = os.Remove(f.Name())
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			return 0, fmt.Errorf("milter: spool: %w", err)
		}
		if _, err := f.Write(p); err != nil {
			f.Close()
			return 0, fmt.Errorf("milter: spool: %w", err)
		}
		s.putMem()
		s.file = f
		return n, nil
	}
	s.mem.Write(p)
	return n, nil
}

// Size is the number of body bytes received.
func (s *Spool) Size() int64 { return s.size }

// Truncated reports whether the body exceeded maxSize and was dropped.
func (s *Spool) Truncated() bool { return s.truncated }

// OnDisk reports whether the body spilled to a file.
func (s *Spool) OnDisk() bool { return s.file != nil }

// Body returns read access to the stored body, or nil when truncated.
// It stays valid until Reset or Close.
func (s *Spool) Body() filters.Body {
	switch {
	case s.truncated:
		return nil
	case s.file != nil:
		return fileBody{f: s.file, size: s.size}
	case s.mem != nil:
		return filters.BytesBody(s.mem.Bytes())
	}
	return filters.BytesBody(nil)
}

// Reset empties the spool for the next message, keeping nothing.
func (s *Spool) Reset() {
	s.release()
	s.size = 0
	s.truncated = false
}

// Close releases memory and the spill file.
func (s *Spool) Close() error {
	s.release()
	return nil
}

func (s *Spool) release() {
	s.putMem()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

func (s *Spool) putMem() {
	if s.mem != nil {
		// Do not keep huge buffers in the pool.
		if s.mem.Cap() <= 1<<20 {
			bufPool.Put(s.mem)
		}
		s.mem = nil
	}
}

type fileBody struct {
	f    *os.File
	size int64
}

func (b fileBody) Reader() io.Reader { return io.NewSectionReader(b.f, 0, b.size) }
func (b fileBody) Size() int64       { return b.size }
