package sdk

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

// logFile is a process's log file in the run directory. It is opened for
// appending, so that other writers (the host copying stray output, a
// runtime crash) add lines rather than overwrite them, and it can say where
// the file ends, which is how a step knows where its log lines are.
type logFile struct {
	mu  sync.Mutex
	f   *os.File
	rel string // path relative to the run directory
	// mask hides sensitive values in each write (a logged line); nil
	// masks nothing.
	mask *mask.Masker
	// failed counts the writes that failed (a line each), and err is the
	// first one's error: a full disk must not lose lines unsaid.
	failed int
	err    error
}

// openLog opens (creating) name in the task directory dir.
func openLog(dir, name string) (*logFile, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, logPerm(dir))
	if err != nil {
		return nil, err
	}
	return &logFile{f: f, rel: runRel(dir, name)}, nil
}

// logPerm is the mode of a new log file in dir: the read and write bits
// of dir's own mode, so that a file in a private run directory (0700) is
// private too (0600), and one in a run directory shared with a group
// (2750) is readable by the group (0640).
func logPerm(dir string) os.FileMode {
	st, err := os.Stat(dir)
	if err != nil {
		return 0o600
	}
	return st.Mode().Perm() & 0o666
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.f.Write(l.mask.Bytes(p)); err != nil {
		l.failed++
		if l.err == nil {
			l.err = err
		}
		return 0, err
	}
	return len(p), nil
}

// failures is how many writes failed so far.
func (l *logFile) failures() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// lostSince says how many lines were lost since failures() was mark, and
// why; "" if none.
func (l *logFile) lostSince(mark int) string {
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

// end is the file's current size: where the next line will go.
func (l *logFile) end() int64 {
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

// ref is the range from begin to the file's current end.
func (l *logFile) ref(begin int64) *report.LogRef {
	if l == nil {
		return nil
	}
	return &report.LogRef{File: l.rel, Begin: begin, Size: l.end() - begin}
}

func (l *logFile) Close() error { return l.f.Close() }
