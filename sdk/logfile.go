package sdk

import (
	"io"
	"os"
	"path/filepath"
	"sync"

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
}

// openLog opens (creating) name in the task directory dir.
func openLog(dir, name string) (*logFile, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &logFile{f: f, rel: runRel(dir, name)}, nil
}

func (l *logFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
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
