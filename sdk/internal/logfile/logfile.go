package logfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
)

// File is a process's log file in the run directory. It is opened for
// appending, so that other writers (the host copying stray output, a
// runtime crash) add lines rather than overwrite them, and it can say where
// the file ends, which is how a step knows where its log lines are.
type File struct {
	mu  sync.Mutex
	f   *os.File
	rel string // path relative to the run directory
	// Mask hides sensitive values in each write (a logged line); nil
	// masks nothing. Set it before the first write.
	Mask *mask.Masker
	// failed counts the writes that failed (a line each), and err is the
	// first one's error: a full disk must not lose lines unsaid.
	failed int
	err    error
}

// Open opens (creating) name in the log directory dir of a task
// (<run>/tasks/<id>) or of a hook call (<run>/hooks/<call>).
func Open(dir, name string) (*File, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, Perm(dir))
	if err != nil {
		return nil, err
	}
	return New(f, RunRel(dir, name)), nil
}

// New makes a File of f, an open file, which is rel in the run directory.
func New(f *os.File, rel string) *File { return &File{f: f, rel: rel} }

// RunRel is the path, relative to the run directory, of the file name in
// the log directory dir of a task (<run>/tasks/<id>) or of a hook call
// (<run>/hooks/<call>).
func RunRel(dir, name string) string {
	return filepath.Join(filepath.Base(filepath.Dir(dir)), filepath.Base(dir), name)
}

// Perm is the mode of a new log file in dir: the read and write bits
// of dir's own mode, so that a file in a private run directory (0700) is
// private too (0600), and one in a run directory shared with a group
// (2750) is readable by the group (0640).
func Perm(dir string) os.FileMode {
	st, err := os.Stat(dir)
	if err != nil {
		return 0o600
	}
	return st.Mode().Perm() & 0o666
}

// Write writes p, masked, as one write: a log line. A write that fails
// is counted (Failures, LostSince).
func (l *File) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(l.Mask.Bytes(p)); err != nil {
		l.failed++
		if l.err == nil {
			l.err = err
		}
		return 0, err
	}
	return len(p), nil
}

// Failures is how many writes failed so far; 0 for a nil File.
func (l *File) Failures() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// LostSince says how many lines were lost since Failures() was mark, and
// why; "" if none.
func (l *File) LostSince(mark int) string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.failed - mark
	if n <= 0 {
		return ""
	}
	lines := "lines"
	if n == 1 {
		lines = "line"
	}
	err := l.err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is rel
	}
	return fmt.Sprintf("%d log %s not written to %s: %v", n, lines, l.rel, err)
}

// End is the file's current size: where the next line will go.
func (l *File) End() int64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	off, err := l.f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0
	}
	return off
}

// Ref is the range from begin to the file's current end; nil for a nil
// File.
func (l *File) Ref(begin int64) *report.LogRef {
	if l == nil {
		return nil
	}
	return &report.LogRef{File: l.rel, Begin: begin, Size: l.End() - begin}
}

// File is the open file.
func (l *File) File() *os.File { return l.f }

// Close closes the file.
func (l *File) Close() error { return l.f.Close() }
