package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// sparePIDs reads from job.log the pack processes the host started ahead
// of their tasks.
func sparePIDs(t *testing.T, runDir string) []int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "job.log"))
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "pack started ahead of its task") {
			continue
		}
		if _, after, ok := strings.Cut(line, " pid="); ok {
			var pid int
			fmt.Sscan(after, &pid)
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPacksStartedAhead: the host starts a task's pack process before the
// task's turn comes, one process per task all the same; the one started
// for a task that never runs (blocked) is stopped with the run.
func TestPacksStartedAhead(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "ahead" { max_parallel = 1 }
task "a" {
  pack = "testpack"
  task = "pass"
}
task "b" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.a]
}
task "c" {
  pack       = "testpack"
  task       = "fail"
  depends_on = [task.b]
}
task "d" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.c]
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	pids := map[int]string{}
	for _, id := range []string{"a", "b", "c"} {
		task := taskByID(t, f, id)
		if task.PID == 0 {
			t.Fatalf("%s has no pid", id)
		}
		if other, ok := pids[task.PID]; ok {
			t.Errorf("%s and %s ran in the same process %d", other, id, task.PID)
		}
		pids[task.PID] = id
	}
	if d := taskByID(t, f, "d"); d.Result.Value != result.Blocked || d.PID != 0 {
		t.Errorf("d: %s pid %d, want blocked, never started", d.Result.Value, d.PID)
	}
	ahead := sparePIDs(t, r.runDir(t))
	// b and c took processes started ahead; one more was started for d,
	// which never ran.
	if len(ahead) < 3 {
		t.Fatalf("%d processes started ahead (%v), want at least 3", len(ahead), ahead)
	}
	var taken, unused int
	for _, pid := range ahead {
		if _, ok := pids[pid]; ok {
			taken++
		} else {
			unused++
		}
		if alive(pid) {
			t.Errorf("process %d started ahead is still running after the run", pid)
		}
	}
	if taken < 2 || unused < 1 {
		t.Errorf("of the processes started ahead %d ran a task and %d did not; want b and c in them, and d's unused", taken, unused)
	}
}
