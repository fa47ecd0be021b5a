package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// --rerun runs the tasks that did not pass (one failed, one blocked by it)
// and what they depend on, and nothing else.
func TestRerunRunsWhatDidNotPass(t *testing.T) {
	mark := filepath.Join(t.TempDir(), "fixed")
	path := job(t, `
job "rerun" { max_parallel = 2 }
task "base" {
  pack = "testpack"
  task = "pass"
}
task "other" {
  pack = "testpack"
  task = "pass"
}
task "dep" {
  pack = "testpack"
  task = "pass"
}
task "bad" {
  pack       = "exec"
  task       = "run"
  args       = { command = "test", args = ["-e", "`+mark+`"] }
  depends_on = [task.dep]
}
task "blocked" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.bad]
}
`)
	first := taskhost(t, "run", path)
	if first.code != 1 {
		t.Fatalf("first run: exit %d\n%s\n%s", first.code, first.stdout, first.stderr)
	}
	f1 := first.results(t)
	for id, want := range map[string]string{"base": "passed", "other": "passed", "dep": "passed", "bad": "failed", "blocked": "blocked"} {
		if got := taskByID(t, f1, id).Result.Value.String(); got != want {
			t.Fatalf("first run: %s %s, want %s", id, got, want)
		}
	}
	// The fault is fixed; run again what did not pass.
	if err := os.WriteFile(mark, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	{
		ref := first.runDir(t)
		second := taskhost(t, "run", "--rerun", ref, path)
		if second.code != 0 {
			t.Fatalf("rerun of %s: exit %d\n%s\n%s", ref, second.code, second.stdout, second.stderr)
		}
		f2 := second.results(t)
		var ran []string
		for _, task := range f2.Report.Tasks {
			ran = append(ran, task.ID+"="+task.Result.Value.String())
		}
		sort.Strings(ran)
		if got, want := strings.Join(ran, " "), "bad=passed blocked=passed dep=passed"; got != want {
			t.Errorf("rerun ran %s, want %s", got, want)
		}
		for _, line := range []string{
			"running again, as they did not pass: bad (failed), blocked (blocked)",
			"running, as they depend on them:     dep",
			"skipped, as they passed there:       base, other",
		} {
			if !strings.Contains(second.stdout, line) {
				t.Errorf("rerun output lacks %q:\n%s", line, second.stdout)
			}
		}
	}
	// By id, in the runs directory of the first run.
	third := taskhost(t, "run", "--runs-dir", first.runsDir, "--rerun", f1.Report.ID, path)
	if third.code != 0 || !strings.Contains(third.stdout, "Rerun of "+f1.Report.ID) {
		t.Errorf("rerun by id: exit %d\n%s\n%s", third.code, third.stdout, third.stderr)
	}
	// A run that does not exist is a usage error, and nothing runs.
	bad := taskhost(t, "run", "--rerun", "nosuch.20260101-000000", path)
	if bad.code != 2 || !strings.Contains(bad.stderr, "no run nosuch.20260101-000000") {
		t.Errorf("rerun of no run: exit %d\n%s", bad.code, bad.stderr)
	}
	if _, err := os.Stat(bad.runsDir); err == nil {
		if entries, _ := os.ReadDir(bad.runsDir); len(entries) > 0 {
			t.Errorf("a rerun of no run made a run directory")
		}
	}
}
