package results_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestWriteOnAFullDisk: results.json written again on a full disk fails
// with the disk's error and leaves the earlier copy whole, and no
// temporary file. It mounts a tmpfs of 1 MiB to fill (as root; skipped,
// saying why, where it cannot).
func TestWriteOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v): %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, "results.json")
	file := func(steps int) *results.File {
		task := &results.Task{ID: "t", Result: report.Outcome{Value: result.Passed}, Sections: []*report.Node{}}
		for i := 0; i < steps; i++ {
			task.Sections = append(task.Sections, &report.Node{Type: "step", ID: "1", Name: strings.Repeat("x", 100)})
		}
		return &results.File{Version: 1, Report: results.Report{ID: "r", Tasks: []*results.Task{task}}}
	}
	if err := results.Write(path, file(10)); err != nil {
		t.Fatal(err)
	}
	// Room for a part of the new copy (some 1.5 MB), not all of it.
	if err := os.WriteFile(filepath.Join(dir, "fill"), make([]byte, 900<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	err := results.Write(path, file(10000))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write on a full disk: %v, want no space left on device", err)
	}
	f, err := results.Read(path)
	if err != nil || len(f.Report.Tasks[0].Sections) != 10 {
		t.Fatalf("the earlier results.json is not whole: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".results.json-*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
