package results

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/taskhost/taskhost/internal/report"
)

// LogReader reads the log lines of steps from the log files of a run
// directory. It keeps a window of one file at a time, so that reading the
// steps of a task in order reads its log once, in a little memory.
type LogReader struct {
	dir string
	max int64

	file  string // the file of the window
	f     *os.File
	size  int64
	begin int64 // offset of win in the file
	win   []byte
	err   error // of opening file
}

// window is the least that is read at once.
const window = 1 << 20

// NewLogReader reads logs under runDir. A file larger than max bytes is
// not read (its steps get an error); max <= 0 means no limit.
func NewLogReader(runDir string, max int64) *LogReader {
	return &LogReader{dir: runDir, max: max}
}

// Close closes the file it has open.
func (l *LogReader) Close() error {
	if l.f != nil {
		err := l.f.Close()
		l.f = nil
		return err
	}
	return nil
}

func (l *LogReader) open(rel string) error {
	if rel == l.file {
		return l.err
	}
	l.Close()
	l.file, l.win, l.begin, l.err = rel, nil, 0, nil
	if !filepath.IsLocal(rel) {
		l.err = fmt.Errorf("log file %q is not inside the run directory", rel)
		return l.err
	}
	f, err := os.Open(filepath.Join(l.dir, rel))
	if err != nil {
		l.err = err
		return err
	}
	st, err := f.Stat()
	if err == nil && l.max > 0 && st.Size() > l.max {
		err = fmt.Errorf("%s is %d bytes, more than the %d read for reports", rel, st.Size(), l.max)
	}
	if err != nil {
		f.Close()
		l.err = err
		return err
	}
	l.f, l.size = f, st.Size()
	return nil
}

// read returns size bytes at off in the open file.
func (l *LogReader) read(off, size int64) ([]byte, error) {
	if off < 0 || size < 0 || off+size > l.size {
		return nil, fmt.Errorf("log range %d+%d is outside %s", off, size, l.file)
	}
	if off >= l.begin && off+size <= l.begin+int64(len(l.win)) {
		return l.win[off-l.begin : off-l.begin+size], nil
	}
	n := min(max(size, window), l.size-off)
	if int64(cap(l.win)) < n {
		l.win = make([]byte, n)
	}
	l.win = l.win[:n]
	if _, err := l.f.ReadAt(l.win, off); err != nil && err != io.EOF {
		l.win = nil
		return nil, err
	}
	l.begin = off
	return l.win[:size], nil
}

// File returns the content of a log file of the run, by its path relative
// to the run directory. The bytes are valid until the next call.
func (l *LogReader) File(rel string) ([]byte, error) {
	if err := l.open(rel); err != nil {
		return nil, err
	}
	return l.read(0, l.size)
}

// Lines returns what ref points at: a step's log lines. The bytes are
// valid until the next call.
func (l *LogReader) Lines(ref *report.LogRef) ([]byte, error) {
	if ref == nil {
		return nil, nil
	}
	if err := l.open(ref.File); err != nil {
		return nil, err
	}
	return l.read(ref.Begin, ref.Size)
}
