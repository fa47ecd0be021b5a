package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// TestTaskStdinIsEmpty: a task that reads its standard input reads end of
// file at once, even when the host's own standard input stays open (a
// terminal, here a pipe that nobody writes to or closes): a pack must not
// take the user's input, nor wait for it.
func TestTaskStdinIsEmpty(t *testing.T) {
	t.Parallel()
	path := job(t, `
job "stdin" {}
task "reader" {
  pack    = "testpack"
  task    = "stdin"
  timeout = "60s"
}
`)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	runs := filepath.Join(t.TempDir(), "runs")
	cmd := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, &out, &out
	err = cmd.Run()
	r.Close()
	if code := exitCode(err); code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, out.String())
	}
	reader := taskByID(t, runResult{runsDir: runs}.results(t), "reader")
	if reader.Result.Value != result.Passed {
		t.Fatalf("reader: %s %q, want passed", reader.Result.Value, reader.Result.Reason)
	}
	var data struct {
		Bytes *int `json:"bytes"`
	}
	step := reader.Sections[0]
	if err := json.Unmarshal(step.Result.Data, &data); err != nil || data.Bytes == nil || *data.Bytes != 0 {
		t.Errorf("the task read %s from its standard input, want 0 bytes (%v)", step.Result.Data, err)
	}
}
