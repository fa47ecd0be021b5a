package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/sdk/result"
)

// holdData is what the testpack's hold step records.
type holdData struct {
	Start, Stop int64
	PID         int
}

func hold(t *testing.T, task *results.Task) holdData {
	t.Helper()
	if len(task.Sections) != 1 {
		t.Fatalf("task %s: want one step, got %d", task.ID, len(task.Sections))
	}
	var d holdData
	if err := json.Unmarshal(task.Sections[0].Result.Data, &d); err != nil {
		t.Fatalf("task %s: step data %s: %v", task.ID, task.Sections[0].Result.Data, err)
	}
	return d
}

func TestParallelTasksOverlapInTheirOwnProcesses(t *testing.T) {
	t.Parallel()
	// Each task waits until the other one has started: they can both pass
	// only if they run at the same time.
	dir := t.TempDir()
	r := taskhost(t, "run", job(t, `
job "par" { max_parallel = 2 }
task "a" {
  pack = "testpack"
  task = "meet"
  args = { dir = "`+dir+`", name = "a", peer = "b" }
}
task "b" {
  pack = "testpack"
  task = "meet"
  args = { dir = "`+dir+`", name = "b", peer = "a" }
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	a, b := taskByID(t, f, "a"), taskByID(t, f, "b")
	if a.PID == 0 || a.PID == b.PID {
		t.Errorf("tasks ran in processes %d and %d, want two different processes", a.PID, b.PID)
	}
	if !(a.StartTime.Before(b.StopTime) && b.StartTime.Before(a.StopTime)) {
		t.Errorf("tasks did not overlap: a %v..%v, b %v..%v", a.StartTime, a.StopTime, b.StartTime, b.StopTime)
	}
}

func TestMaxParallelOneSerialises(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "serial" { max_parallel = 1 }
task "a" {
  pack = "testpack"
  task = "hold"
  args = { duration = "200ms" }
}
task "b" {
  pack = "testpack"
  task = "hold"
  args = { duration = "200ms" }
}
task "c" {
  pack = "testpack"
  task = "hold"
  args = { duration = "200ms" }
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	var spans []holdData
	pids := map[int]bool{}
	for _, id := range []string{"a", "b", "c"} {
		d := hold(t, taskByID(t, f, id))
		spans = append(spans, d)
		pids[d.PID] = true
		if got := taskByID(t, f, id).PID; got != d.PID {
			t.Errorf("task %s: results.json says pid %d, the task saw %d", id, got, d.PID)
		}
	}
	if len(pids) != 3 {
		t.Errorf("want 3 processes, got pids %v", pids)
	}
	for i := range spans {
		for j := range spans {
			if i != j && spans[i].Start < spans[j].Stop && spans[j].Start < spans[i].Stop {
				t.Errorf("tasks %d and %d overlap with max_parallel = 1: %+v %+v", i, j, spans[i], spans[j])
			}
		}
	}
}

func TestDependsOnOrderAndBlocked(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "deps" { max_parallel = 4 }
task "first" {
  pack = "testpack"
  task = "hold"
  args = { duration = "100ms" }
}
task "second" {
  pack       = "testpack"
  task       = "hold"
  args       = { duration = "100ms" }
  depends_on = [task.first]
}
task "third" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.second, task.first]
}
task "broken" {
  pack = "testpack"
  task = "fail"
}
task "after_broken" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.broken]
}
task "after_after" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.after_broken]
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	first, second, third := taskByID(t, f, "first"), taskByID(t, f, "second"), taskByID(t, f, "third")
	if second.StartTime.Before(first.StopTime) {
		t.Errorf("second started %v before first stopped %v", second.StartTime, first.StopTime)
	}
	if third.StartTime.Before(second.StopTime) {
		t.Errorf("third started %v before second stopped %v", third.StartTime, second.StopTime)
	}
	for _, id := range []string{"first", "second", "third"} {
		if got := taskByID(t, f, id).Result.Value; got != result.Passed {
			t.Errorf("%s: %s, want passed", id, got)
		}
	}
	if got := taskByID(t, f, "broken").Result.Value; got != result.Failed {
		t.Errorf("broken: %s, want failed", got)
	}
	for _, id := range []string{"after_broken", "after_after"} {
		task := taskByID(t, f, id)
		if task.Result.Value != result.Blocked {
			t.Errorf("%s: %s, want blocked", id, task.Result.Value)
		}
		if task.PID != 0 || !task.StartTime.IsZero() {
			t.Errorf("%s was started (pid %d, start %v), want never started", id, task.PID, task.StartTime)
		}
		if _, err := os.Stat(filepath.Join(r.runDir(t), "tasks", id)); !os.IsNotExist(err) {
			t.Errorf("%s has a task directory, want none (never started): %v", id, err)
		}
	}
	if got := taskByID(t, f, "after_broken").Result.Reason; !strings.Contains(got, "broken") {
		t.Errorf("after_broken reason %q does not name its dependency", got)
	}
}

// TestRollup runs tasks that report given trees and checks each task's
// result and the job's against PYATS.md's rollup.
func TestRollup(t *testing.T) {
	t.Parallel()
	tasks := map[string]struct {
		steps string
		want  result.Result
	}{
		"pass_skip":        {`[{name="a"},{name="b",result="skipped"}]`, result.Passed},
		"all_skipped":      {`[{name="a",result="skipped"},{name="b",result="skipped"}]`, result.Skipped},
		"passx":            {`[{name="a",result="passx"},{name="b"}]`, result.Passx},
		"nested_failed":    {`[{name="a",steps=[{name="b",result="failed",continue=true},{name="c"}]}]`, result.Failed},
		"blocked_passx":    {`[{name="a",result="blocked",continue=true},{name="b",result="passx"}]`, result.Blocked},
		"errored_stops":    {`[{name="a",result="errored"},{name="b",result="aborted"}]`, result.Errored},
		"aborted_beats":    {`[{name="a",result="failed",continue=true},{name="b",result="aborted",continue=true},{name="c",result="errored"}]`, result.Aborted},
		"deep_passx":       {`[{name="a",steps=[{name="b",steps=[{name="c",steps=[{name="d",result="passx"}]}]}]}]`, result.Passx},
		"failed_and_block": {`[{name="a",result="blocked",continue=true},{name="b",result="failed"}]`, result.Failed},
	}
	var body strings.Builder
	body.WriteString(`job "rollup" {}` + "\n")
	for id, tc := range tasks {
		body.WriteString("task \"" + id + "\" {\n  pack = \"testpack\"\n  task = \"tree\"\n  args = { steps = " + tc.steps + " }\n}\n")
	}
	r := taskhost(t, "run", job(t, body.String()))
	if r.code != 1 {
		t.Errorf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	got := map[string]result.Result{}
	want := map[string]result.Result{}
	for id, tc := range tasks {
		got[id] = taskByID(t, f, id).Result.Value
		want[id] = tc.want
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("task results (-want +got):\n%s", d)
	}
	if f.Report.Result != result.Aborted {
		t.Errorf("job result %s, want aborted", f.Report.Result)
	}
	// A step that is not a success stops its section: "b" after an
	// errored "a" never started.
	if n := len(taskByID(t, f, "errored_stops").Sections); n != 1 {
		t.Errorf("errored_stops reported %d steps, want 1 (the errored step stops the task)", n)
	}
	s := f.Report.Summary
	if s.Total != len(tasks) || s.Passed != 1 || s.Skipped != 1 || s.Passx != 2 || s.Failed != 2 || s.Blocked != 1 || s.Errored != 1 || s.Aborted != 1 {
		t.Errorf("summary %+v", s)
	}
	if want := 400.0 / 9; s.SuccessRate < want-0.01 || s.SuccessRate > want+0.01 {
		t.Errorf("success rate %.2f, want %.2f", s.SuccessRate, want)
	}
}

func TestAllPassingExitsZero(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "green" {}
task "p" {
  pack = "testpack"
  task = "pass"
}
task "x" {
  pack = "testpack"
  task = "tree"
  args = { steps = [{name = "a", result = "passx"}] }
}
task "s" {
  pack = "testpack"
  task = "tree"
  args = { steps = [{name = "a", result = "skipped"}] }
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := r.results(t).Report.Result; got != result.Passx {
		t.Errorf("job result %s, want passx", got)
	}
	for _, want := range []string{"TASK", "PASSX", "SKIPPED", "Run directory:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCrashesAreErroredAndOthersGoOn(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "crashes" { max_parallel = 4 }
task "panics" {
  pack = "testpack"
  task = "panic"
}
task "exits" {
  pack = "testpack"
  task = "exit"
  args = { status = 3 }
}
task "killed" {
  pack = "testpack"
  task = "kill"
}
task "fine1" {
  pack = "testpack"
  task = "hold"
  args = { duration = "300ms" }
}
task "fine2" {
  pack = "testpack"
  task = "pass"
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	cases := map[string]string{
		"panics": "panic: top-level panic on purpose",
		"exits":  "exited with status 3",
		"killed": "killed by SIGKILL",
	}
	for id, reason := range cases {
		task := taskByID(t, f, id)
		if task.Result.Value != result.Errored || !strings.Contains(task.Result.Reason, reason) {
			t.Errorf("%s: %s %q, want errored %q", id, task.Result.Value, task.Result.Reason, reason)
		}
	}
	for _, id := range []string{"fine1", "fine2"} {
		if got := taskByID(t, f, id).Result.Value; got != result.Passed {
			t.Errorf("%s: %s, want passed", id, got)
		}
	}
	// The panic's stack is in the task's log.
	log, err := os.ReadFile(filepath.Join(r.runDir(t), "tasks", "panics", "task.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "goroutine") || !strings.Contains(string(log), "main.main") && !strings.Contains(string(log), "testpack") {
		t.Errorf("panics/task.log has no stack trace:\n%s", log)
	}
}

func TestTimeoutAbortsAndLeavesNoProcess(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	r := taskhost(t, "run", job(t, `
job "timeouts" { grace = "500ms" }
task "hangs" {
  pack    = "testpack"
  task    = "hang"
  args    = { child_pid_file = "`+pidFile+`" }
  timeout = "1s"
}
task "other" {
  pack = "testpack"
  task = "pass"
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	hangs := taskByID(t, f, "hangs")
	if hangs.Result.Value != result.Aborted || hangs.Result.Reason != "timed out after 1s" {
		t.Errorf("hangs: %s %q, want aborted \"timed out after 1s\"", hangs.Result.Value, hangs.Result.Reason)
	}
	if got := taskByID(t, f, "other").Result.Value; got != result.Passed {
		t.Errorf("other: %s, want passed", got)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the task did not start its child: %v", err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The host has exited; the pack and its child (which ignores SIGTERM)
	// were killed with their process group. Allow the kernel a moment to
	// finish the kill.
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range []int{hangs.PID, child} {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("process %d is still running after the run", pid)
		}
	}
}

func TestRunDirectory(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
variable "who" { default = "world" }
job "layout" {}
task "hello" {
  pack = "demo"
  task = "hello"
  args = { name = var.who }
}
`), "-var", "who=lab")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	if !strings.HasPrefix(filepath.Base(dir), "layout.") {
		t.Errorf("run directory %s is not named after the job", dir)
	}
	for _, p := range []string{"job.log", "jobfile.hcl", "results.json", "tasks/hello/task.log"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("run directory lacks %s: %v", p, err)
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "tasks/hello/task.log"))
	if !strings.Contains(string(log), "hello, lab") {
		t.Errorf("task.log lacks the task's log line:\n%s", log)
	}
	f := r.results(t)
	rep := f.Report
	if f.Version != results.SchemaVersion || rep.Name != "layout" || rep.JobfileSHA256 == "" || rep.Host == "" {
		t.Errorf("report header incomplete: %+v", rep)
	}
	if _, off := rep.StartTime.Zone(); rep.StartTime.IsZero() || rep.StopTime.Before(rep.StartTime) {
		t.Errorf("bad start/stop: %v %v (offset %d)", rep.StartTime, rep.StopTime, off)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	var generic map[string]any
	_ = json.Unmarshal(raw, &generic)
	start := generic["report"].(map[string]any)["starttime"].(string)
	if !strings.HasSuffix(start, "Z") && !strings.ContainsAny(start[len(start)-6:], "+-") {
		t.Errorf("starttime %q has no time zone", start)
	}
	hello := taskByID(t, f, "hello")
	if hello.PID == 0 || hello.Logfile != "tasks/hello/task.log" {
		t.Errorf("task record: pid %d logfile %q", hello.PID, hello.Logfile)
	}
	if len(hello.Sections) != 1 {
		t.Fatalf("hello: want one step, got %+v", hello.Sections)
	}
	var data map[string]any
	if err := json.Unmarshal(hello.Sections[0].Result.Data, &data); err != nil {
		t.Fatalf("step data %s: %v", hello.Sections[0].Result.Data, err)
	}
	if d := cmp.Diff(map[string]any{"greetings": 1.0, "name": "lab"}, data); d != "" {
		t.Errorf("step data (-want +got):\n%s", d)
	}
	if rep.Variables["who"] == nil {
		t.Errorf("variables not recorded: %v", rep.Variables)
	}
}

// TestTaskLevelData: data a task sets outside any step is kept with the
// task's result.
func TestTaskLevelData(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "data" {}
task "d" {
  pack = "testpack"
  task = "taskdata"
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d := taskByID(t, r.results(t), "d")
	var got map[string]any
	if err := json.Unmarshal(d.Result.Data, &got); err != nil || got["devices"] != 3.0 {
		t.Errorf("task data %s (%v), want {\"devices\":3}", d.Result.Data, err)
	}
}
