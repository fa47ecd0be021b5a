package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// TestPythonEdgeCases: what pack authors do by accident has a clear
// outcome: output to stdout during the run, by print, by a write to fd 1
// or by a child that inherits it, lands in task.log; a reason or a step
// name that is not UTF-8 (bytes, or a str with lone surrogates) is shown
// with U+FFFD; step data over the limit is replaced by a note; a step
// waiting on a thread that raised is Aborted at the timeout with the
// thread's traceback in the log; a failing step in a thread ends the
// thread without a traceback of the SDK's own.
func TestPythonEdgeCases(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, fmt.Sprintf(`
job "pyedge" { max_parallel = 7 }
pack "pyedge" { path = %q }
task "prints" {
  pack = "pyedge"
  task = "prints"
}
task "surrogate" {
  pack = "pyedge"
  task = "badtext"
}
task "bytes" {
  pack = "pyedge"
  task = "badtext"
  args = { kind = "bytes" }
}
task "huge" {
  pack = "pyedge"
  task = "hugedata"
}
task "threadraise" {
  pack    = "pyedge"
  task    = "threadraise"
  timeout = "10s"
}
task "threadstep" {
  pack = "pyedge"
  task = "threadstep"
}
`, pyPack(t, "testdata/pyedge"))))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	runDir := r.runDir(t)
	taskLog := func(id string) string { return mustRead(t, filepath.Join(runDir, "tasks", id, "task.log")) }
	cases := map[string]struct {
		res    result.Result
		reason string
	}{
		"prints":      {result.Passed, ""},
		"surrogate":   {result.Failed, "1 bad: port \ufffd\ufffd down"},
		"bytes":       {result.Failed, "1 bad: port \ufffd\ufffd down"},
		"huge":        {result.Passed, ""},
		"threadraise": {result.Aborted, "timed out after 10s"},
		"threadstep":  {result.Errored, "1.1 in the thread: RuntimeError: the worker broke"},
	}
	for id, c := range cases {
		task := taskByID(t, f, id)
		if task.Result.Value != c.res || task.Result.Reason != c.reason {
			t.Errorf("%s: %s %q, want %s %q", id, task.Result.Value, task.Result.Reason, c.res, c.reason)
		}
	}
	log := taskLog("prints")
	for _, w := range []string{"printed to stdout", "written to sys.stdout", "raw write to fd 1", "a child inheriting fd 1"} {
		if !strings.Contains(log, w) {
			t.Errorf("prints/task.log lacks %q:\n%s", w, log)
		}
	}
	for _, id := range []string{"surrogate", "bytes"} {
		if names := strings.Join(stepNames(taskByID(t, f, id).Sections), ","); names != "bad,name \ufffd" {
			t.Errorf("%s's steps: %q", id, names)
		}
	}
	huge := taskByID(t, f, "huge")
	if names := strings.Join(stepNames(huge.Sections), ","); names != "huge,after" {
		t.Fatalf("huge's steps: %s", names)
	}
	var data struct{ Error string }
	if err := json.Unmarshal(huge.Sections[0].Result.Data, &data); err != nil || !strings.Contains(data.Error, "step data of 10485") || !strings.Contains(data.Error, "over the limit of 524288") {
		t.Errorf("huge's data: %s (%v)", huge.Sections[0].Result.Data, err)
	}
	if log := taskLog("threadraise"); !strings.Contains(log, "RuntimeError: the worker broke") {
		t.Errorf("threadraise/task.log lacks the thread's traceback:\n%s", log)
	}
	ts := taskByID(t, f, "threadstep")
	if names := strings.Join(stepNames(ts.Sections), ","); names != "outer,in the thread,after" || len(ts.Sections) != 2 || len(ts.Sections[0].Sections) != 1 || ts.Sections[0].Sections[0].Result.Value != result.Errored {
		t.Errorf("threadstep's steps: %s %+v", names, ts.Sections)
	}
	if log := taskLog("threadstep"); strings.Contains(log, "_End") || strings.Count(log, "Traceback") != 1 {
		t.Errorf("threadstep/task.log should hold the one traceback of the worker's error:\n%s", log)
	}
}
