package results_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/host/htmlreport"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// spoolRun makes a run directory with a task of n top-level sections
// whose log lines are in its task.log, and returns the record: with the
// first spilled of them in a file spool when spilled > 0.
func spoolRun(t *testing.T, dir string, n, spilled int) *results.File {
	t.Helper()
	start := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var log strings.Builder
	var ns []*report.Node
	for i := 1; i <= n; i++ {
		begin := log.Len()
		fmt.Fprintf(&log, "line of step %d\n", i)
		r, why := result.Passed, ""
		if i%7 == 0 {
			r, why = result.Failed, fmt.Sprintf("step %d <failed>", i)
		}
		at := start.Add(time.Duration(i) * time.Millisecond)
		ns = append(ns, &report.Node{Type: report.TypeSection, ID: fmt.Sprint(i), Name: fmt.Sprintf("s%d", i), StartTime: at, StopTime: at.Add(time.Millisecond),
			Runtime: 0.001, PID: 9, Result: report.Outcome{Value: r, Reason: why, Data: json.RawMessage(`{"i":1}`)},
			Sections: []*report.Node{{Type: report.TypeStep, ID: fmt.Sprintf("%d.1", i), Name: "inner", StartTime: at, StopTime: at,
				Result: report.Outcome{Value: r}, Logs: &report.LogRef{File: "tasks/big/task.log", Begin: int64(begin), Size: int64(log.Len() - begin)}}}})
	}
	if err := os.MkdirAll(filepath.Join(dir, "tasks", "big"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tasks", "big", "task.log"), []byte(log.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	task := &results.Task{ID: "big", Pack: "p", Task: "many", StartTime: start, StopTime: start.Add(time.Second),
		Logfile: "tasks/big/task.log", Result: report.Outcome{Value: result.Failed}, Sections: ns}
	if spilled > 0 {
		s := report.NewFileSpool(filepath.Join(dir, "hub", "spill", "t1"))
		for _, nd := range ns[:spilled] {
			if err := s.Add(nd); err != nil {
				t.Fatal(err)
			}
		}
		task.Spool, task.Sections = s, ns[spilled:]
	}
	task.Finish()
	f := &results.File{Version: results.SchemaVersion, Report: results.Report{ID: "run", Name: "job", StartTime: start, StopTime: start.Add(time.Second),
		RunDir: dir, Tasks: []*results.Task{task, {ID: "small", Pack: "p", Task: "pass", Result: report.Outcome{Value: result.Passed}, Sections: []*report.Node{}}}}}
	f.Report.Finish()
	return f
}

// A task whose first sections are in a spool is written to results.json,
// junit.xml and report.html byte for byte as the same task held whole.
func TestSpooledTaskWritesTheSame(t *testing.T) {
	t.Parallel()
	const n = 60
	write := func(spilled int) map[string]string {
		dir := t.TempDir()
		f := spoolRun(t, dir, n, spilled)
		if err := results.Write(filepath.Join(dir, "results.json"), f); err != nil {
			t.Fatal(err)
		}
		if err := results.WriteJUnit(filepath.Join(dir, "junit.xml"), dir, f); err != nil {
			t.Fatal(err)
		}
		if err := htmlreport.Write(filepath.Join(dir, "report.html"), dir, f); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, name := range []string{"results.json", "junit.xml", "report.html"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			out[name] = strings.ReplaceAll(string(b), dir, "RUNDIR")
		}
		return out
	}
	whole := write(0)
	if !strings.Contains(whole["results.json"], `"id": "60"`) || strings.Count(whole["junit.xml"], "<testcase") < n {
		t.Fatalf("the whole task's files lack its steps")
	}
	for _, spilled := range []int{1, 45, n} {
		got := write(spilled)
		for name, want := range whole {
			if d := cmp.Diff(want, got[name]); d != "" {
				t.Errorf("%d sections spooled: %s differs (-whole +spooled):\n%s", spilled, name, d)
			}
		}
	}
}
