package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/sdk/result"
)

// smallDisk mounts a tmpfs of 128 MiB (the preflight wants 100 MiB free)
// for a run directory to fill, and returns it. It needs root; the test is
// skipped, saying why, where the mount is not allowed.
func smallDisk(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs to fill needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (%v): %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the file system is full, and
// returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "fill")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, size)
		for {
			if _, err = f.Write(buf); err != nil {
				break
			}
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
		}
	}
	return path
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string, host *exec.Cmd, out *syncBuffer) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			host.Process.Kill()
			t.Fatalf("%s did not appear\n%s", path, out)
		}
	}
}

// startOn starts taskhost run on a jobfile with the runs directory runs.
func startOn(t *testing.T, runs string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	host := exec.Command(filepath.Join(bin, "taskhost"), append([]string{"run", "--runs-dir", runs}, args...)...)
	host.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &syncBuffer{}
	host.Stdout, host.Stderr = out, out
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	return host, out
}

// waitHost waits for the host to exit, up to limit, and returns its exit
// code; a host still running then is killed and the test fails.
func waitHost(t *testing.T, host *exec.Cmd, out *syncBuffer, limit time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- host.Wait() }()
	select {
	case err := <-done:
		return exitCode(err)
	case <-time.After(limit):
		host.Process.Kill()
		<-done
		t.Fatalf("the host still runs after %s: it hangs\n%s", limit, out)
		return 0
	}
}

// lineIndex is the index of the first line of out that contains s, or -1.
func lineIndex(out, s string) int {
	for i, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

// TestDiskFullStopsTheRun: the run directory's disk fills while a task
// reports 20,000 steps, and stays full. The terminal says so as it
// happens; the run waits --store-wait (3 s) for the store, then stops as
// an interrupt stops it: the task is Aborted with the reason, naming the
// disk, the task after it Aborted "not started"; results.json is written
// in the room the run kept; the host exits with 1, and nothing hangs.
func TestDiskFullStopsTheRun(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t)
	gate := t.TempDir()
	path := job(t, `
job "full" { grace = "2s" }
task "many" {
  pack = "testpack"
  task = "gated"
  args = { ready = "`+gate+`/ready", go = "`+gate+`/go", steps = 20000 }
}
task "after" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.many]
}
`)
	host, out := startOn(t, filepath.Join(disk, "runs"), "--store-wait", "3s", path)
	waitFile(t, filepath.Join(gate, "ready"), host, out)
	fillDisk(t, disk)
	if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := waitHost(t, host, out, 90*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	o := out.String()
	full, stop := lineIndex(o, "the run's disk is full"), lineIndex(o, "stopping the run")
	if full < 0 || stop < full || !strings.Contains(o, "no space left on device") {
		t.Errorf("the terminal does not say the disk is full, then that the run stops\n%s", o)
	}
	if ended := lineIndex(o, "many ABORTED"); ended < stop {
		t.Errorf("the disk's lines come after the task's end, not as it happens\n%s", o)
	}
	f := runResult{runsDir: filepath.Join(disk, "runs")}.results(t)
	many, after := taskByID(t, f, "many"), taskByID(t, f, "after")
	if many.Result.Value != result.Aborted || !strings.Contains(many.Result.Reason, "the run's store could not write for 3s") ||
		!strings.Contains(many.Result.Reason, "no space left on device") {
		t.Errorf("many: %s %q, want Aborted: the store could not write: no space left on device", many.Result.Value, many.Result.Reason)
	}
	if after.Result.Value != result.Aborted || !strings.HasPrefix(after.Result.Reason, "not started: ") ||
		!strings.Contains(after.Result.Reason, "no space left on device") {
		t.Errorf("after: %s %q, want Aborted, not started, for the disk", after.Result.Value, after.Result.Reason)
	}
	waitGone(t, many.PID)
	if _, err := os.Stat(filepath.Join(f.Report.RunDir, ".reserve")); !os.IsNotExist(err) {
		t.Errorf("the room kept for the record is still there: %v", err)
	}
}

// TestDiskFullForAMoment: the disk fills for 4 s while tasks run: one
// holds 8 s from then on without reporting or logging, one reports 300 steps, one logs 50 lines
// in each of 20 steps. The terminal says the disk is full as it happens,
// and that the store writes again after; the run goes on: the holding
// task passes and the one after it runs and passes; the reporting task
// has its 300 steps, each once, in order (what was not acknowledged was
// sent again); the tasks whose log lines were lost are Errored, saying
// so and naming the disk; no step is "step never ended".
func TestDiskFullForAMoment(t *testing.T) {
	t.Parallel()
	disk := smallDisk(t)
	gate := t.TempDir()
	path := job(t, `
job "moment" {}
task "hold" {
  pack = "testpack"
  task = "gated"
  args = { ready = "`+gate+`/r0", go = "`+gate+`/go", hold = "8s" }
}
task "after_hold" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.hold]
}
task "reporter" {
  pack = "testpack"
  task = "gated"
  args = { ready = "`+gate+`/r1", go = "`+gate+`/go", steps = 300, pause = "20ms" }
}
task "logger" {
  pack = "testpack"
  task = "gated"
  args = { ready = "`+gate+`/r2", go = "`+gate+`/go", steps = 20, lines = 50, pause = "300ms" }
}
`)
	host, out := startOn(t, filepath.Join(disk, "runs"), path)
	// Every task runs before the disk fills: what a task writes as it
	// starts is not what this test is about.
	waitFile(t, filepath.Join(gate, "r0"), host, out)
	waitFile(t, filepath.Join(gate, "r1"), host, out)
	waitFile(t, filepath.Join(gate, "r2"), host, out)
	fill := fillDisk(t, disk)
	if err := os.WriteFile(filepath.Join(gate, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	if code := waitHost(t, host, out, 120*time.Second); code != 1 {
		t.Fatalf("exit %d, want 1 (tasks lost log lines)\n%s", code, out)
	}
	o := out.String()
	full, again := lineIndex(o, "the run's disk is full"), lineIndex(o, "the run's store writes again")
	if full < 0 || again < full || !strings.Contains(o, "no space left on device") {
		t.Errorf("the terminal does not say the disk is full, then that the store writes again\n%s", o)
	}
	if ended := lineIndex(o, "reporter ERRORED"); ended < again {
		t.Errorf("the disk's lines come after the task's end, not as it happens\n%s", o)
	}
	f := runResult{runsDir: filepath.Join(disk, "runs")}.results(t)
	for _, id := range []string{"hold", "after_hold"} {
		if task := taskByID(t, f, id); task.Result.Value != result.Passed {
			t.Errorf("%s: %s %q, want Passed", id, task.Result.Value, task.Result.Reason)
		}
	}
	for id, steps := range map[string]int{"reporter": 300, "logger": 20} {
		task := taskByID(t, f, id)
		if task.Result.Value != result.Errored || !strings.Contains(task.Result.Reason, "log lines not written to tasks/"+id+"/task.log: no space left on device") {
			t.Errorf("%s: %s %q, want Errored: log lines not written: no space left on device", id, task.Result.Value, task.Result.Reason)
		}
		checkStepsOf(t, task, steps)
	}
}

// checkStepsOf checks that task has steps s1..sN, each once, in order,
// none closed by the host.
func checkStepsOf(t *testing.T, task *results.Task, n int) {
	t.Helper()
	if len(task.Sections) != n {
		t.Errorf("%s: %d steps, want %d", task.ID, len(task.Sections), n)
		return
	}
	for i, s := range task.Sections {
		if s.Name != "s"+strconv.Itoa(i+1) {
			t.Errorf("%s: step %d is %q: lost, doubled or out of order", task.ID, i+1, s.Name)
			return
		}
		if strings.Contains(s.Result.Reason, "never ended") || strings.Contains(s.Result.Reason, "not all recorded") {
			t.Errorf("%s: step %s %s %q", task.ID, s.Name, s.Result.Value, s.Result.Reason)
		}
	}
}
