package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// A task whose events the hub refuses for good (here: the run's stream is
// full, max_run_bytes = 64 KiB, and a task reports 3,000 steps) is told
// at once: its SDK stops sending, says why once in task.log, and the task
// ends Errored with the reason. Before, the SDK sent its batches again
// until its end gave up after 30 s, and the reason was "context deadline
// exceeded".
func TestTaskToldWhenRefusedForGood(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "full" {
  max_run_bytes = 65536
}
task "many" {
  pack = "testpack"
  task = "many"
  args = { n = 3000 }
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	many := taskByID(t, r.results(t), "many")
	const why = "the hub refuses the task's events for good: the run's stream is full (max_run_bytes)"
	if many.Result.Value != result.Errored || !strings.Contains(many.Result.Reason, why) {
		t.Errorf("many: %s %q, want errored: … %s", many.Result.Value, many.Result.Reason, why)
	}
	log, _ := os.ReadFile(filepath.Join(r.runDir(t), "tasks", "many", "task.log"))
	if n := bytes.Count(log, []byte("the hub refuses the task's events for good")); n != 1 {
		t.Errorf("task.log says %d times that the hub refuses the events, want once:\n%s", n, log)
	}
}
