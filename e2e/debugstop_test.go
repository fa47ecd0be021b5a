package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestDebugStopsWithTheJob: under run --debug, while the debugged task's
// pack waits for a debugger that never attaches, the job's timeout, and
// the first interrupt, end the task: it is Aborted with the cause, the
// host writes results.json and exits with 1, and neither Delve nor the
// pack it started is left.
func TestDebugStopsWithTheJob(t *testing.T) {
	dlv, err := runner.FindDelve("")
	if err != nil {
		t.Skip("Delve is not installed here (make test installs it: scripts/test-deps): ", err)
	}
	t.Parallel()
	extraPacks(t)
	for name, c := range map[string]struct {
		job, reason string
		interrupt   bool
	}{
		"job timeout": {job: `job "debug" { timeout = "3s" }`, reason: "job timed out after 3s"},
		"interrupt":   {job: `job "debug" {}`, reason: "interrupted by interrupt", interrupt: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A copy of the pack of its own, to find its processes by path.
			dir := t.TempDir()
			b, err := os.ReadFile(filepath.Join(bin, "hookpack"))
			if err != nil {
				t.Fatal(err)
			}
			pack := filepath.Join(dir, "dbgpack")
			if err := os.WriteFile(pack, b, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "job.hcl")
			if err := os.WriteFile(path, []byte(fmt.Sprintf(`
%s
pack "dbgpack" { path = %q }
task "dbg" {
  pack = "dbgpack"
  task = "debugme"
}
task "other" {
  pack = "dbgpack"
  task = "pass"
}
`, c.job, pack)), 0o644); err != nil {
				t.Fatal(err)
			}
			h := startHost(t, nil, "--debug", "dbg", "--dlv", dlv, path)
			if c.interrupt {
				// The pack waits under Delve once the host says how to
				// attach.
				for deadline := time.Now().Add(60 * time.Second); !strings.Contains(h.stderr.String(), "dlv connect "); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("the host did not say how to attach\n%s\n%s", h.stdout.String(), h.stderr.String())
					}
				}
				if err := h.cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
			}
			r := h.wait(t, 60*time.Second, "the "+name)
			if r.code != 1 {
				t.Errorf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			dbg := taskByID(t, r.results(t), "dbg")
			if dbg.Result.Value != result.Aborted || dbg.Result.Reason != c.reason {
				t.Errorf("dbg: %s %q, want aborted %q", dbg.Result.Value, dbg.Result.Reason, c.reason)
			}
			noneLeft(t, dir, "Delve or the debugged pack")
		})
	}
}
