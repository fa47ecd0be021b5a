package results

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/taskhost/taskhost/internal/report"
)

// LogReader reads the log lines of steps from the log files of a run
// directory, each file once.
type LogReader struct {
	dir   string
	max   int64
	files map[string][]byte
	errs  map[string]error
}

// NewLogReader reads logs under runDir. A file larger than max bytes is
// not read (its steps get an error); max <= 0 means no limit.
func NewLogReader(runDir string, max int64) *LogReader {
	return &LogReader{dir: runDir, max: max, files: map[string][]byte{}, errs: map[string]error{}}
}

// File returns the content of a log file of the run, by its path relative
// to the run directory.
func (l *LogReader) File(rel string) ([]byte, error) {
	if b, ok := l.files[rel]; ok {
		return b, nil
	}
	if err, ok := l.errs[rel]; ok {
		return nil, err
	}
	b, err := l.read(rel)
	if err != nil {
		l.errs[rel] = err
		return nil, err
	}
	l.files[rel] = b
	return b, nil
}

func (l *LogReader) read(rel string) ([]byte, error) {
	if !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("log file %q is not inside the run directory", rel)
	}
	path := filepath.Join(l.dir, rel)
	if l.max > 0 {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		if st.Size() > l.max {
			return nil, fmt.Errorf("%s is %d bytes, more than the %d read for reports", rel, st.Size(), l.max)
		}
	}
	return os.ReadFile(path)
}

// Lines returns what ref points at: a step's log lines.
func (l *LogReader) Lines(ref *report.LogRef) ([]byte, error) {
	if ref == nil {
		return nil, nil
	}
	b, err := l.File(ref.File)
	if err != nil {
		return nil, err
	}
	end := ref.Begin + ref.Size
	if ref.Begin < 0 || ref.Size < 0 || end > int64(len(b)) {
		return nil, fmt.Errorf("log range %d+%d is outside %s", ref.Begin, ref.Size, ref.File)
	}
	return b[ref.Begin:end], nil
}
