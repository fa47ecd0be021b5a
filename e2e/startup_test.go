package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/sdk/result"
)

// runWithServeDelay runs the jobfile with testpack holding delay before it
// serves (TESTPACK_SERVE_DELAY: a duration, or "never"). The packs'
// descriptions are cached first by a validate without the delay, so that
// only the tasks' launches are held, not the check of the jobfile.
func runWithServeDelay(t *testing.T, delay, body string) *hostRun {
	t.Helper()
	path := job(t, body)
	cache := "TASKHOST_CACHE_DIR=" + filepath.Join(t.TempDir(), "cache")
	if v := taskhostEnv(t, []string{cache}, "validate", path); v.code != 0 {
		t.Fatalf("validate: exit %d\n%s\n%s", v.code, v.stdout, v.stderr)
	}
	return startHost(t, []string{cache, "TESTPACK_SERVE_DELAY=" + delay}, path)
}

// TestStartUpCountsInTimeout: a task's timeout covers its pack's start-up.
// A pack that takes 5 s to serve, or never serves, with a task timeout of
// 2 s, is Aborted "timed out after 2s" at 2 s.
func TestStartUpCountsInTimeout(t *testing.T) {
	t.Parallel()
	for name, delay := range map[string]string{"slow": "5s", "never": "never"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := runWithServeDelay(t, delay, `
job "startup" {}
task "slow" {
  pack    = "testpack"
  task    = "pass"
  timeout = "2s"
}
`)
			r := h.wait(t, 60*time.Second, "a task timeout of 2s")
			if r.code != 1 {
				t.Errorf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			slow := taskByID(t, r.results(t), "slow")
			if slow.Result.Value != result.Aborted || slow.Result.Reason != "timed out after 2s" {
				t.Errorf("slow: %s %q, want aborted \"timed out after 2s\"", slow.Result.Value, slow.Result.Reason)
			}
			if d := slow.StopTime.Sub(slow.StartTime); d > 20*time.Second {
				t.Errorf("slow ran %s: its start-up was not stopped at its timeout", d)
			}
		})
	}
}

// TestStartTimeout: a pack that never serves, for a task without a
// timeout, is Errored after the pack's start_timeout, with a reason that
// names the limit; the job's other tasks run.
func TestStartTimeout(t *testing.T) {
	t.Parallel()
	h := runWithServeDelay(t, "never", `
job "startup" {}
pack "stuck" {
  path          = "`+filepath.Join(bin, "testpack")+`"
  start_timeout = "1s"
}
task "stuck" {
  pack = "stuck"
  task = "pass"
}
`)
	r := h.wait(t, 60*time.Second, "a start_timeout of 1s")
	if r.code != 1 {
		t.Errorf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	stuck := taskByID(t, r.results(t), "stuck")
	if stuck.Result.Value != result.Errored || !strings.Contains(stuck.Result.Reason, "did not serve within 1s (the pack's start_timeout") {
		t.Errorf("stuck: %s %q, want errored: did not serve within 1s (the pack's start_timeout …", stuck.Result.Value, stuck.Result.Reason)
	}
}

// TestStartedAheadTimeout: a process started ahead of its task (while an
// earlier task runs) takes its time to start before the task's turn; the
// task's timeout counts from its turn, so the task passes.
func TestStartedAheadTimeout(t *testing.T) {
	t.Parallel()
	h := runWithServeDelay(t, "1s", `
job "ahead" { max_parallel = 1 }
task "first" {
  pack = "testpack"
  task = "hold"
  args = { duration = "3s" }
}
task "second" {
  pack       = "testpack"
  task       = "pass"
  timeout    = "2s"
  depends_on = [task.first]
}
`)
	r := h.wait(t, 60*time.Second, "two short tasks")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if pids := sparePIDs(t, r.runDir(t)); len(pids) == 0 {
		t.Errorf("no pack process was started ahead: this test no longer tests that case")
	}
	second := taskByID(t, r.results(t), "second")
	if second.Result.Value != result.Passed {
		t.Errorf("second: %s %q, want passed", second.Result.Value, second.Result.Reason)
	}
}

// The pack's start_timeout must be a duration greater than zero.
func TestStartTimeoutChecked(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "validate", job(t, fmt.Sprintf(`
job "bad" {}
pack "p" {
  path          = %q
  start_timeout = "soon"
}
`, filepath.Join(bin, "testpack"))))
	if r.code != 2 || !strings.Contains(r.stderr, "The start_timeout argument must be a duration") {
		t.Errorf("exit %d, want 2 with the duration error\n%s", r.code, r.stderr)
	}
}
