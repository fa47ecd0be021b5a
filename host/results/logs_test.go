package results

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/taskhost/taskhost/internal/report"
)

// Ranges anywhere in a file larger than the window, in and out of order,
// read what is there; a range past the end is an error.
func TestLogReaderWindows(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789abcdef\n"), 3*window/17+5)
	if err := os.MkdirAll(filepath.Join(dir, "tasks", "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tasks", "a", "a.log"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	l := NewLogReader(dir, 0)
	defer l.Close()
	size := int64(len(content))
	const file = "tasks/a/a.log"
	for _, r := range [][2]int64{{0, 10}, {window - 5, 10}, {5, 2 * window}, {size - 3, 3}, {window * 2, 1}, {0, size}, {17, 0}} {
		got, err := l.Lines(&report.LogRef{File: file, Begin: r[0], Size: r[1]}, TaskDir("a"))
		if err != nil || !bytes.Equal(got, content[r[0]:r[0]+r[1]]) {
			t.Errorf("range %v: %v (got %d bytes)", r, err, len(got))
		}
	}
	if _, err := l.Lines(&report.LogRef{File: file, Begin: size - 1, Size: 2}, TaskDir("a")); err == nil {
		t.Errorf("a range past the end was read")
	}
}

// A record names its log files as its task reported them: only a file in
// the task's own directory is read, whatever the path or a link in the
// directory says, and a FIFO there does not block the reader.
func TestLogReaderStaysInTheTaskDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{"tasks/a", "tasks/b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(dir, "secret")
	for path, content := range map[string]string{"tasks/a/task.log": "mine\n", "tasks/b/task.log": "b's\n", "secret": "secret\n"} {
		if err := os.WriteFile(filepath.Join(dir, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"tasks/a/out.log":   secret,             // absolute, out of the run directory
		"tasks/a/up.log":    "../../secret",     // relative, out
		"tasks/a/other.log": "../b/task.log",    // into another task's directory
		"tasks/a/same.log":  "task.log",         // within its own: fine
		"tasks/a/dir.log":   "../../tasks/a/..", // a directory
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "tasks/a/fifo.log"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := NewLogReader(dir, 0)
	defer l.Close()
	for _, file := range []string{"tasks/a/task.log", "tasks/a/same.log"} {
		if b, err := l.File(file, TaskDir("a")); err != nil || string(b) != "mine\n" {
			t.Errorf("File(%s) = %q, %v; want its own log", file, b, err)
		}
	}
	for _, file := range []string{
		"secret", "/etc/passwd", "../secret", "tasks/a/../../secret", "tasks/a/../b/task.log", "tasks/b/task.log",
		"tasks/a/out.log", "tasks/a/up.log", "tasks/a/other.log", "tasks/a/dir.log", "tasks/a/fifo.log", "tasks/a", "tasks/a/sub/x.log",
	} {
		b, err := l.Lines(&report.LogRef{File: file, Size: 3}, TaskDir("a"))
		if err == nil || strings.Contains(string(b), "secret") || strings.Contains(string(b), "b's") {
			t.Errorf("Lines(%s) for task a = %q, %v; want an error", file, b, err)
		}
	}
}
