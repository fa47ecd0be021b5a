package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestPythonChildrenAcrossLanguages: a Go task starts a Python program
// that uses taskhost.run_child, and a Python task starts a Go program
// that uses sdk.RunChild (the testpack's run mode); each child's steps
// appear under the step that started it, from its own pid, and its lines
// are in its own pid-<pid>.log, not in task.log.
func TestPythonChildrenAcrossLanguages(t *testing.T) {
	t.Parallel()
	child, err := filepath.Abs("testdata/pychild.py")
	if err != nil {
		t.Fatal(err)
	}
	sdkDir, err := filepath.Abs(pySDK)
	if err != nil {
		t.Fatal(err)
	}
	r := taskhost(t, "run", job(t, fmt.Sprintf(`
job "children" { max_parallel = 2 }
pack "pyload" { path = %q }
task "go_py" {
  pack = "testpack"
  task = "command"
  args = { argv = [%q, %q, %q] }
}
task "py_go" {
  pack = "pyload"
  task = "command"
  args = { argv = [%q, "run", "childsteps", "--arg", "n=7"] }
}
`, pyPack(t, "testdata/pyload"), python3, child, sdkDir, filepath.Join(bin, "testpack"))))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	checkChild(t, r.runDir(t), taskByID(t, f, "go_py"), "python child", "the python child says hello", "inner of the python child")
	checkChild(t, r.runDir(t), taskByID(t, f, "py_go"), "child 7", "child 7 says hello", "inner of child 7")
}

// checkChild checks that task ran steps spawn and after, and that spawn
// holds one child's step called name, with its step inner, from another
// process whose log file holds hello and inner.
func checkChild(t *testing.T, runDir string, task *results.Task, name, hello, inner string) {
	t.Helper()
	if len(task.Sections) != 2 || task.Sections[0].Name != "spawn" || task.Sections[1].Name != "after" {
		t.Fatalf("%s: want steps spawn and after, got %v", task.ID, stepNames(task.Sections))
	}
	spawn := task.Sections[0]
	if len(spawn.Sections) != 1 {
		t.Fatalf("%s: spawn should hold the child's step: %v", task.ID, stepNames(spawn.Sections))
	}
	c := spawn.Sections[0]
	m := regexp.MustCompile(`^1/(\d+)\.1$`).FindStringSubmatch(c.ID)
	if m == nil || c.Name != name || c.PID == 0 || c.PID == task.PID || m[1] != strconv.Itoa(c.PID) {
		t.Errorf("%s: the child's step: id %q name %q pid %d (task pid %d)", task.ID, c.ID, c.Name, c.PID, task.PID)
	}
	if c.Result.Value != result.Passed || len(c.Sections) != 1 || c.Sections[0].Name != "inner" || c.Sections[0].Result.Value != result.Passed {
		t.Errorf("%s: the child's step %s with %v, want passed with inner passed", task.ID, c.Result.Value, stepNames(c.Sections))
	} else {
		checkLogRef(t, runDir, c.Sections[0].Logs, inner)
	}
	dir := filepath.Join(runDir, "tasks", task.ID)
	pidLog := "tasks/" + task.ID + "/pid-" + strconv.Itoa(c.PID) + ".log"
	if len(task.Logs) != 1 || task.Logs[0] != pidLog {
		t.Errorf("%s: the task's child logs are %v, want [%s]", task.ID, task.Logs, pidLog)
	}
	if log := mustRead(t, filepath.Join(runDir, pidLog)); !strings.Contains(log, hello) || !strings.Contains(log, inner) {
		t.Errorf("%s: %s lacks %q or %q:\n%s", task.ID, pidLog, hello, inner, log)
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "task.log")); strings.Contains(string(log), hello) {
		t.Errorf("%s: the child's lines leaked into task.log:\n%s", task.ID, log)
	}
}
