package results

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"unicode/utf8"

	"github.com/taskhost/taskhost/internal/report"
)

// LogReader reads the log lines of steps from the log files of a run
// directory. It keeps a window of one file at a time, so that reading the
// steps of a task in order reads its log once, in a little memory.
type LogReader struct {
	dir string
	max int64

	file  string // the file of the window
	owner string // the directory it was read for
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

// TaskDir is the directory of a task's log files, relative to the run
// directory.
func TaskDir(id string) string { return filepath.Join("tasks", id) }

// OpenLog opens rel, a path relative to the run directory runDir, for a
// task whose directory (relative to runDir) is dir: the file must be
// directly in dir, and the path may not leave it, through a symbolic
// link either (a task's processes can make links in their directory). A
// record names its log files as its task reported them, so they are
// opened only this way.
func OpenLog(runDir, dir, rel string) (*os.File, error) {
	if filepath.Clean(rel) != rel || filepath.Dir(rel) != dir || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("log file %q is not in the task's directory %s", rel, dir)
	}
	root, err := os.OpenRoot(filepath.Join(runDir, dir))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Not blocking: a task can make a FIFO in its directory too.
	f, err := root.OpenFile(filepath.Base(rel), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("log file %q is not a regular file", rel)
	}
	return f, nil
}

func (l *LogReader) open(rel, dir string) error {
	if rel == l.file && dir == l.owner {
		return l.err
	}
	l.Close()
	l.file, l.owner, l.win, l.begin, l.err = rel, dir, nil, 0, nil
	f, err := OpenLog(l.dir, dir, rel)
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
// to the run directory, for the task whose directory is dir (see
// OpenLog). The bytes are valid until the next call.
func (l *LogReader) File(rel, dir string) ([]byte, error) {
	if err := l.open(rel, dir); err != nil {
		return nil, err
	}
	return l.read(0, l.size)
}

// Lines returns what ref points at: a step's log lines, in a file of the
// task whose directory is dir (see OpenLog). The bytes are valid until
// the next call.
func (l *LogReader) Lines(ref *report.LogRef, dir string) ([]byte, error) {
	if ref == nil {
		return nil, nil
	}
	if err := l.open(ref.File, dir); err != nil {
		return nil, err
	}
	return l.read(ref.Begin, ref.Size)
}

// Whole returns a reference to all of rel, a log file of the task whose
// directory is dir (see OpenLog).
func (l *LogReader) Whole(rel, dir string) (*report.LogRef, error) {
	if err := l.open(rel, dir); err != nil {
		return nil, err
	}
	return &report.LogRef{File: rel, Size: l.size}, nil
}

// Bounded returns what ref points at, in at most max bytes: all of it in
// head, or, when it is larger, its first quarter in head and the rest of
// max from its end in tail, with cut the number of bytes left out between
// them (each part ends and starts on a character of UTF-8). tail is valid
// until the next call.
func (l *LogReader) Bounded(ref *report.LogRef, dir string, max int64) (head, tail []byte, cut int64, err error) {
	if ref.Size <= max {
		head, err = l.Lines(ref, dir)
		return head, nil, 0, err
	}
	if err := l.open(ref.File, dir); err != nil {
		return nil, nil, 0, err
	}
	b, err := l.read(ref.Begin, max/4)
	if err != nil {
		return nil, nil, 0, err
	}
	head = bytes.Clone(b[:runeEnd(b)])
	n := max - max/4
	if tail, err = l.read(ref.Begin+ref.Size-n, n); err != nil {
		return nil, nil, 0, err
	}
	for i := 0; i < utf8.UTFMax && len(tail) > 0 && !utf8.RuneStart(tail[0]); i++ {
		tail = tail[1:]
	}
	return head, tail, ref.Size - int64(len(head)) - int64(len(tail)), nil
}

// runeEnd is the length of b without a character cut at its end.
func runeEnd(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}
