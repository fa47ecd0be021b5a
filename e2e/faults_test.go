package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestBrokenPacks: each way a pack binary can be wrong makes its task
// Errored with what to fix, and the other tasks run.
func TestBrokenPacks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	copyFile := func(name string, mode os.FileMode) string {
		b, err := os.ReadFile(filepath.Join(bin, "testpack"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notExec := copyFile("notexec", 0o644)
	chatty := copyFile("chatty", 0o755) // testpack prints to stdout first under this name
	script := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho I am not a pack\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := job(t, fmt.Sprintf(`
job "broken" {}
pack "missing" { path = %q }
pack "notexec" { path = %q }
pack "script"  { path = %q }
pack "chatty"  { path = %q }
pack "other"   { path = %q }
task "good" {
  pack = "testpack"
  task = "pass"
}
task "missing" {
  pack = "missing"
  task = "pass"
}
task "notexec" {
  pack = "notexec"
  task = "pass"
}
task "script" {
  pack = "script"
  task = "pass"
}
task "chatty" {
  pack = "chatty"
  task = "pass"
}
task "other" {
  pack = "other"
  task = "pass"
}
`, filepath.Join(dir, "nope"), notExec, script, chatty, filepath.Join(bin, "otherproto")))
	r := taskhost(t, "run", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the run goes on)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	want := map[string]string{
		"missing": "does not exist: build it or fix the pack's path",
		"notexec": "is not executable: chmod +x it",
		"script":  "Unrecognized remote plugin message: I am not a pack",
		"chatty":  "must not print to stdout before Set.Run",
		"other":   "Plugin version: 99, Client versions: [1 2] (the pack speaks pack protocol 99, this taskhost speaks [1 2]",
	}
	for id, reason := range want {
		task := taskByID(t, f, id)
		if task.Result.Value != result.Errored || !strings.Contains(task.Result.Reason, reason) {
			t.Errorf("%s: %s %q, want errored with %q", id, task.Result.Value, task.Result.Reason, reason)
		}
	}
	if got := taskByID(t, f, "good").Result.Value; got != result.Passed {
		t.Errorf("good: %s, want passed", got)
	}
	// validate, unlike run, refuses such a jobfile.
	if v := taskhost(t, "validate", path); v.code != 2 || !strings.Contains(v.stderr, "Pack cannot be started") {
		t.Errorf("validate: exit %d\n%s", v.code, v.stderr)
	}
}

// TestRetries: a task that fails twice, then passes, with retries = 2, is
// Passx with its three attempts listed; one that keeps failing is Failed.
func TestRetries(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "retries" {}
task "flaky" {
  pack    = "testpack"
  task    = "flaky"
  args    = { key = "a", fail_times = 2 }
  retries = 2
}
task "hopeless" {
  pack    = "testpack"
  task    = "flaky"
  args    = { key = "b", fail_times = 5 }
  retries = 1
}
task "once" {
  pack = "testpack"
  task = "flaky"
  args = { key = "c", fail_times = 0 }
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	flaky := taskByID(t, f, "flaky")
	if flaky.Result.Value != result.Passx || len(flaky.Attempts) != 3 {
		t.Fatalf("flaky: %s with %d attempts, want passx with 3", flaky.Result.Value, len(flaky.Attempts))
	}
	pids := map[int]bool{}
	for i, a := range flaky.Attempts {
		want := result.Failed
		if i == 2 {
			want = result.Passed
		}
		if a.Attempt != i+1 || a.Result.Value != want || len(a.Sections) != 1 {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
		pids[a.PID] = true
	}
	if len(pids) != 3 {
		t.Errorf("attempts ran in %d processes, want 3", len(pids))
	}
	if hopeless := taskByID(t, f, "hopeless"); hopeless.Result.Value != result.Failed || len(hopeless.Attempts) != 2 {
		t.Errorf("hopeless: %s with %d attempts, want failed with 2", hopeless.Result.Value, len(hopeless.Attempts))
	}
	if once := taskByID(t, f, "once"); once.Result.Value != result.Passed || len(once.Attempts) != 0 {
		t.Errorf("once: %s with %d attempts listed, want passed with none", once.Result.Value, len(once.Attempts))
	}
}

// maxOverlap is the most tasks that ran at once, by their hold steps.
func maxOverlap(t *testing.T, tasks []*results.Task) int {
	t.Helper()
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, task := range tasks {
		d := hold(t, task)
		edges = append(edges, edge{d.Start, +1}, edge{d.Stop, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at != edges[j].at {
			return edges[i].at < edges[j].at
		}
		return edges[i].delta < edges[j].delta // a stop before a start at the same instant
	})
	n, most := 0, 0
	for _, e := range edges {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// TestMaxParallelLimits: 20 tasks with max_parallel of 1, 2 and 4 never
// run more at once than the limit.
func TestMaxParallelLimits(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 2, 4} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			t.Parallel()
			var body strings.Builder
			fmt.Fprintf(&body, "job \"limit\" { max_parallel = %d }\n", limit)
			for i := range 20 {
				fmt.Fprintf(&body, "task \"t%d\" {\n  pack = \"testpack\"\n  task = \"hold\"\n  args = { duration = \"50ms\" }\n}\n", i)
			}
			r := taskhost(t, "run", job(t, body.String()))
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if got := maxOverlap(t, r.results(t).Report.Tasks); got > limit {
				t.Errorf("%d tasks ran at once, the limit is %d", got, limit)
			}
		})
	}
}

// TestPackMaxParallel: a pack's own limit holds under a larger job limit.
func TestPackMaxParallel(t *testing.T) {
	t.Parallel()
	var body strings.Builder
	fmt.Fprintf(&body, "job \"packlimit\" { max_parallel = 4 }\npack \"serial\" {\n  path = %q\n  max_parallel = 1\n}\n", filepath.Join(bin, "testpack"))
	for i := range 6 {
		fmt.Fprintf(&body, "task \"s%d\" {\n  pack = \"serial\"\n  task = \"hold\"\n  args = { duration = \"50ms\" }\n}\n", i)
	}
	r := taskhost(t, "run", job(t, body.String()))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := maxOverlap(t, r.results(t).Report.Tasks); got > 1 {
		t.Errorf("%d tasks of a pack with max_parallel = 1 ran at once", got)
	}
}

// startHanging starts taskhost on a job whose task starts a child that
// ignores SIGTERM and hangs; it returns the host, the runs directory and
// the child's pid once the child runs.
func startHanging(t *testing.T) (*exec.Cmd, *syncBuffer, string, int) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	runs := filepath.Join(t.TempDir(), "runs")
	path := job(t, `
job "interrupt" { grace = "1s" }
task "hangs" {
  pack = "testpack"
  task = "hang"
  args = { child_pid_file = "`+pidFile+`" }
}
task "after" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.hangs]
}
`)
	host := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path)
	out := &syncBuffer{}
	host.Stdout, host.Stderr = out, out
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			var pid int
			fmt.Sscan(string(b), &pid)
			return host, out, runs, pid
		}
		if time.Now().After(deadline) {
			host.Process.Kill()
			t.Fatalf("the task did not start its child\n%s", out)
		}
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestInterruptOnce: the first SIGINT stops the tasks, and the host still
// writes results.json and exits 1, leaving no process behind.
func TestInterruptOnce(t *testing.T) {
	t.Parallel()
	host, out, runs, child := startHanging(t)
	if err := host.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(host.Wait()); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	r := runResult{runsDir: runs}
	f := r.results(t)
	hangs := taskByID(t, f, "hangs")
	if hangs.Result.Value != result.Aborted || !strings.Contains(hangs.Result.Reason, "interrupt") {
		t.Errorf("hangs: %s %q, want aborted by the interrupt", hangs.Result.Value, hangs.Result.Reason)
	}
	if after := taskByID(t, f, "after"); after.Result.Value != result.Aborted || after.PID != 0 {
		t.Errorf("after: %s (pid %d), want aborted, never started", after.Result.Value, after.PID)
	}
	for _, pid := range []int{hangs.PID, child} {
		waitGone(t, pid)
	}
}

// TestInterruptTwice: a second SIGINT makes the host exit at once; still
// no process of the run is left.
func TestInterruptTwice(t *testing.T) {
	t.Parallel()
	host, out, runs, child := startHanging(t)
	_ = host.Process.Signal(syscall.SIGINT)
	// The second signal must come while the first is being handled: the
	// task ignores its context, so the host waits out the grace period.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), "again to quit at once"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the host did not take the first interrupt\n%s", out)
		}
	}
	_ = host.Process.Signal(syscall.SIGINT)
	code := exitCode(host.Wait())
	if code == 0 {
		t.Errorf("exit 0 after two interrupts\n%s", out)
	}
	if !strings.Contains(out.String(), "quitting at once") {
		t.Errorf("the host did not quit at once\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(runs)); err != nil {
		t.Errorf("no runs directory: %v", err)
	}
	entries, _ := os.ReadDir(runs)
	var pack int
	if len(entries) == 1 {
		b, _ := os.ReadFile(filepath.Join(runs, entries[0].Name(), "job.log"))
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, "task started: task=hangs pack=testpack pid="); i >= 0 {
				fmt.Sscan(strings.Fields(line[i+len("task started: task=hangs pack=testpack pid="):])[0], &pack)
			}
		}
	}
	if pack == 0 {
		t.Fatalf("the pack's pid is not in job.log")
	}
	// The run's socket directory is gone too.
	sockets := ""
	if b, err := os.ReadFile(filepath.Join(runs, entries[0].Name(), "job.log")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if _, dir, ok := strings.Cut(line, "sockets="); ok {
				sockets = strings.Fields(dir)[0]
			}
		}
	}
	if sockets == "" {
		t.Error("job.log does not name the packs' socket directory")
	} else if _, err := os.Stat(sockets); err == nil {
		t.Errorf("the run's socket directory %s is left after quitting at once", sockets)
	}
	// "after" never ran, but its pack may have been started ahead.
	for _, pid := range append([]int{pack, child}, sparePIDs(t, filepath.Join(runs, entries[0].Name()))...) {
		waitGone(t, pid)
	}
}

// waitGone fails the test if pid is still alive 10 s from now.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("process %d is still running", pid)
			return
		}
	}
}

// TestStrayPrintBeforeServing: a pack that prints to stdout before it
// serves (with fmt, as pack code does) still starts; the line lands in
// the task's log.
func TestStrayPrintBeforeServing(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(bin, "testpack"))
	if err != nil {
		t.Fatal(err)
	}
	printy := filepath.Join(t.TempDir(), "printy")
	if err := os.WriteFile(printy, b, 0o755); err != nil {
		t.Fatal(err)
	}
	r := taskhost(t, "run", job(t, fmt.Sprintf(`
job "printy" {}
pack "printy" { path = %q }
task "p" {
  pack = "printy"
  task = "pass"
}
`, printy)))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	log, _ := os.ReadFile(filepath.Join(r.runDir(t), "tasks", "p", "task.log"))
	if !strings.Contains(string(log), "a stray line before serving") {
		t.Errorf("the stray line is not in task.log:\n%s", log)
	}
}

// TestJobTimeout: the job's timeout aborts what still runs, and what has
// not started is Aborted without starting.
func TestJobTimeout(t *testing.T) {
	// The job's timeout leaves the quick task ample time to start and
	// pass on a loaded machine.
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "jobtimeout" {
  timeout = "5s"
  grace   = "500ms"
}
task "quick" {
  pack = "testpack"
  task = "pass"
}
task "long" {
  pack = "testpack"
  task = "hold"
  args = { duration = "1m" }
}
task "later" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.long]
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	if got := taskByID(t, f, "quick").Result.Value; got != result.Passed {
		t.Errorf("quick: %s", got)
	}
	long := taskByID(t, f, "long")
	if long.Result.Value != result.Aborted || long.Result.Reason != "job timed out after 5s" {
		t.Errorf("long: %s %q, want aborted \"job timed out after 5s\"", long.Result.Value, long.Result.Reason)
	}
	later := taskByID(t, f, "later")
	if later.Result.Value != result.Aborted || later.PID != 0 || !strings.Contains(later.Result.Reason, "not started") {
		t.Errorf("later: %s %q (pid %d)", later.Result.Value, later.Result.Reason, later.PID)
	}
}
