package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestChildProcessesJoinTheTask: a task starts two children that use the
// SDK and one that does not; each gets its own log file, and the SDK
// children's steps appear under the step that started them.
func TestChildProcessesJoinTheTask(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "children" {}
task "kids" {
  pack = "testpack"
  task = "children"
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	kids := taskByID(t, f, "kids")
	dir := filepath.Join(r.runDir(t), "tasks", "kids")
	logs, _ := filepath.Glob(filepath.Join(dir, "pid-*.log"))
	if len(logs) != 3 || len(kids.Logs) != 3 {
		t.Fatalf("want 3 pid-<pid>.log files, got %v; results.json lists %v", logs, kids.Logs)
	}
	var contents []string
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		contents = append(contents, string(b))
	}
	all := strings.Join(contents, "\n---\n")
	for _, want := range []string{"child 0 says hello", "inner of child 1", "plain out", "plain err"} {
		if n := strings.Count(all, want); n != 1 {
			t.Errorf("%q appears %d times in the children's logs, want once:\n%s", want, n, all)
		}
	}
	taskLog, _ := os.ReadFile(filepath.Join(dir, "task.log"))
	if strings.Contains(string(taskLog), "child 0 says hello") || strings.Contains(string(taskLog), "plain out") {
		t.Errorf("children's lines leaked into task.log:\n%s", taskLog)
	}

	if len(kids.Sections) != 2 {
		t.Fatalf("want steps spawn and after, got %d", len(kids.Sections))
	}
	spawn := kids.Sections[0]
	if spawn.Name != "spawn" || len(spawn.Sections) != 2 {
		t.Fatalf("spawn should hold the two children's steps: %+v", spawn)
	}
	idRe := regexp.MustCompile(`^1/(\d+)\.1$`)
	pids := map[int]bool{}
	for i, c := range spawn.Sections {
		m := idRe.FindStringSubmatch(c.ID)
		if m == nil || c.Name != "child "+string(rune('0'+i)) || c.PID == kids.PID || c.PID == 0 {
			t.Errorf("child step %d: id %q name %q pid %d (task pid %d)", i, c.ID, c.Name, c.PID, kids.PID)
		}
		pids[c.PID] = true
		if len(c.Sections) != 1 || c.Sections[0].Name != "inner" || c.Sections[0].Result.Value != result.Passed {
			t.Errorf("child step %d lacks its inner step: %+v", i, c.Sections)
		}
		checkLogRef(t, r.runDir(t), c.Sections[0].Logs, "inner of child")
	}
	if len(pids) != 2 {
		t.Errorf("the two children's steps come from %d processes, want 2", len(pids))
	}
	checkLogRef(t, r.runDir(t), spawn.Logs, "STEP 1: spawn")
}

// checkLogRef reads the range a step's logs point at and looks for want.
func checkLogRef(t *testing.T, runDir string, ref *report.LogRef, want string) {
	t.Helper()
	if ref == nil {
		t.Errorf("no log range (want one holding %q)", want)
		return
	}
	b, err := os.ReadFile(filepath.Join(runDir, ref.File))
	if err != nil {
		t.Error(err)
		return
	}
	if ref.Begin < 0 || ref.Begin+ref.Size > int64(len(b)) {
		t.Errorf("log range %+v outside %s (%d bytes)", ref, ref.File, len(b))
		return
	}
	if got := string(b[ref.Begin : ref.Begin+ref.Size]); !strings.Contains(got, want) {
		t.Errorf("log range %+v does not hold %q:\n%s", ref, want, got)
	}
}
