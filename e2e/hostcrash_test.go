package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/sdk/result"
)

// TestHostKilled: the host is SIGKILLed mid-run. Its task processes and
// their children are gone within 10 s, and `results recover` rebuilds
// results.json with every event the hub had stored.
func TestHostKilled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	runs := filepath.Join(dir, "runs")
	path := job(t, `
job "crash" {}
state {
  seeded = "s"
}
task "quick" {
  pack = "testpack"
  task = "many"
  args = { n = 500 }
}
task "counts" {
  pack = "testpack"
  task = "count"
  args = { key = "c", n = 3 }
}
task "hangs" {
  pack       = "testpack"
  task       = "hang"
  args       = { child_pid_file = "`+pidFile+`" }
  depends_on = [task.quick, task.counts]
}
task "later" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.hangs]
}
`)
	// A temporary directory of the test's own, to see what the killed
	// host leaves there.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	host := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path)
	host.Env = append(os.Environ(), "TMPDIR="+tmp)
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait (bounded) until the hanging task has started its child.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			host.Process.Kill()
			t.Fatal("the hanging task did not start its child")
		}
	}
	b, _ := os.ReadFile(pidFile)
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := host.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()

	entries, err := os.ReadDir(runs)
	if err != nil || len(entries) != 1 {
		t.Fatalf("want one run directory: %v %v", entries, err)
	}
	runDir := filepath.Join(runs, entries[0].Name())
	if _, err := os.Stat(filepath.Join(runDir, "results.json")); err == nil {
		t.Fatal("results.json exists although the host was killed mid-run")
	}
	r := taskhost(t, "results", "recover", runDir)
	if r.code != 0 {
		t.Fatalf("recover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r.runsDir = runs
	f := r.results(t)
	quick, hangs, later := taskByID(t, f, "quick"), taskByID(t, f, "hangs"), taskByID(t, f, "later")
	if quick.Result.Value != result.Passed || len(quick.Sections) != 500 {
		t.Errorf("quick: %s with %d steps, want passed with 500", quick.Result.Value, len(quick.Sections))
	}
	if hangs.Result.Value != result.Aborted || !strings.Contains(hangs.Result.Reason, "host stopped") {
		t.Errorf("hangs: %s %q, want aborted because the host stopped", hangs.Result.Value, hangs.Result.Reason)
	}
	if len(hangs.Sections) != 1 || hangs.Sections[0].Result.Value != result.Aborted {
		t.Errorf("hangs' open step not recovered as aborted: %+v", hangs.Sections)
	}
	if later.Result.Value != result.Aborted || !strings.Contains(later.Result.Reason, "not started") {
		t.Errorf("later: %s %q", later.Result.Value, later.Result.Reason)
	}
	if f.Report.Result != result.Aborted {
		t.Errorf("job result %s, want aborted", f.Report.Result)
	}
	// The shared state as the host last recorded it: the jobfile's value,
	// and what the task that ended left.
	if got := fmt.Sprintf("%s %s", f.Report.State["seeded"], f.Report.State["c"]); got != `"s" 3` {
		t.Errorf("recovered state: seeded, c = %s, want \"s\" 3", got)
	}

	// The killed host could not remove its socket directory; the next
	// run does.
	left, _ := filepath.Glob(filepath.Join(tmp, fmt.Sprintf("taskhost-%d-*", host.Process.Pid)))
	if len(left) != 1 {
		t.Errorf("the killed host's socket directory: %v, want one", left)
	}
	next := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", filepath.Join(dir, "runs2"), job(t, `
job "next" {}
task "one" {
  pack = "testpack"
  task = "pass"
}
`))
	next.Env = append(os.Environ(), "TMPDIR="+tmp)
	if out, err := next.CombinedOutput(); err != nil {
		t.Fatalf("next run: %v\n%s", err, out)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "taskhost-*")); len(left) != 0 {
		t.Errorf("left in the temporary directory after the next run: %v", left)
	}

	// No process of the run remains within 10 s of the kill.
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range []int{quick.PID, hangs.PID, child} {
		if pid == 0 {
			t.Errorf("a pid was not recorded (quick %d, hangs %d, child %d)", quick.PID, hangs.PID, child)
			continue
		}
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("process %d outlived the killed host by 10 s", pid)
		}
	}
}
