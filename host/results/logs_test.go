package results

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/taskhost/taskhost/internal/report"
)

// Ranges anywhere in a file larger than the window, in and out of order,
// read what is there; a range past the end is an error.
func TestLogReaderWindows(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789abcdef\n"), 3*window/17+5)
	if err := os.WriteFile(filepath.Join(dir, "a.log"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	l := NewLogReader(dir, 0)
	defer l.Close()
	size := int64(len(content))
	for _, r := range [][2]int64{{0, 10}, {window - 5, 10}, {5, 2 * window}, {size - 3, 3}, {window * 2, 1}, {0, size}, {17, 0}} {
		got, err := l.Lines(&report.LogRef{File: "a.log", Begin: r[0], Size: r[1]})
		if err != nil || !bytes.Equal(got, content[r[0]:r[0]+r[1]]) {
			t.Errorf("range %v: %v (got %d bytes)", r, err, len(got))
		}
	}
	if _, err := l.Lines(&report.LogRef{File: "a.log", Begin: size - 1, Size: 2}); err == nil {
		t.Errorf("a range past the end was read")
	}
	if _, err := l.Lines(&report.LogRef{File: "../x.log", Size: 1}); err == nil {
		t.Errorf("a file outside the run directory was read")
	}
}
