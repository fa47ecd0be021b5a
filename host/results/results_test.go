package results_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

const (
	S = result.Skipped
	P = result.Passed
	X = result.Passx
	B = result.Blocked
	F = result.Failed
	E = result.Errored
	A = result.Aborted
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   []result.Result
		want results.Summary
	}{
		"empty": {in: nil, want: results.Summary{SuccessRate: 100}},
		"one passed": {
			in:   []result.Result{P},
			want: results.Summary{Passed: 1, Total: 1, SuccessRate: 100},
		},
		"one failed": {
			in:   []result.Result{F},
			want: results.Summary{Failed: 1, Total: 1, SuccessRate: 0},
		},
		"basic example: 3 of 4 passed": {
			in:   []result.Result{P, F, P, P},
			want: results.Summary{Passed: 3, Failed: 1, Total: 4, SuccessRate: 75},
		},
		"passx and skipped count as success": {
			in:   []result.Result{X, S, P, B},
			want: results.Summary{Passed: 1, Passx: 1, Skipped: 1, Blocked: 1, Total: 4, SuccessRate: 75},
		},
		"every kind": {
			in: []result.Result{S, P, X, B, F, E, A, P},
			want: results.Summary{Passed: 2, Passx: 1, Failed: 1, Errored: 1, Aborted: 1, Blocked: 1, Skipped: 1,
				Total: 8, SuccessRate: 50},
		},
		"three of eight": {
			in:   []result.Result{P, S, X, A, A, E, E, B},
			want: results.Summary{Passed: 1, Passx: 1, Skipped: 1, Aborted: 2, Errored: 2, Blocked: 1, Total: 8, SuccessRate: 37.5},
		},
		"one of three": {
			in:   []result.Result{F, S, E},
			want: results.Summary{Failed: 1, Skipped: 1, Errored: 1, Total: 3, SuccessRate: 100.0 / 3},
		},
		"all skipped": {
			in:   []result.Result{S, S},
			want: results.Summary{Skipped: 2, Total: 2, SuccessRate: 100},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := result.Count(tc.in)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("Count(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func task(id string, r result.Result, reason string) *results.Task {
	return &results.Task{ID: id, Result: report.Outcome{Value: r, Reason: reason}}
}

func TestReportFinish(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		tasks    []result.Result
		want     result.Result
		wantExit int
	}{
		"no tasks":               {tasks: nil, want: P, wantExit: 0},
		"all passed":             {tasks: []result.Result{P, P}, want: P, wantExit: 0},
		"passed, passx, skipped": {tasks: []result.Result{P, X, S}, want: X, wantExit: 0},
		"only skipped":           {tasks: []result.Result{S, S}, want: S, wantExit: 0},
		"one failed":             {tasks: []result.Result{P, F, P}, want: F, wantExit: 1},
		"one blocked":            {tasks: []result.Result{S, B}, want: B, wantExit: 1},
		"errored and failed":     {tasks: []result.Result{F, E, P}, want: E, wantExit: 1},
		"aborted wins":           {tasks: []result.Result{E, A, F, B}, want: A, wantExit: 1},
		"only aborted":           {tasks: []result.Result{A}, want: A, wantExit: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			r := &results.Report{StartTime: start, StopTime: start.Add(90 * time.Second)}
			for i, v := range tc.tasks {
				r.Tasks = append(r.Tasks, task(string(rune('a'+i)), v, ""))
			}
			r.Finish()
			if r.Result != tc.want {
				t.Errorf("Result = %v, want %v", r.Result, tc.want)
			}
			if got := r.ExitCode(); got != tc.wantExit {
				t.Errorf("ExitCode() = %d, want %d", got, tc.wantExit)
			}
			if r.Summary.Total != len(tc.tasks) {
				t.Errorf("Summary.Total = %d, want %d", r.Summary.Total, len(tc.tasks))
			}
			if r.Runtime != 90 {
				t.Errorf("Runtime = %v, want 90", r.Runtime)
			}
		})
	}
}

func TestReportFinishSummary(t *testing.T) {
	t.Parallel()
	r := &results.Report{Tasks: []*results.Task{task("a", P, ""), task("b", F, "x"), task("c", X, ""), task("d", S, "")}}
	r.Finish()
	want := results.Summary{Passed: 1, Failed: 1, Passx: 1, Skipped: 1, Total: 4, SuccessRate: 75}
	if diff := cmp.Diff(want, r.Summary); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
}

func TestTaskFinish(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := map[string]struct {
		task        results.Task
		wantSummary results.Summary
		wantRuntime float64
	}{
		"sections and times": {
			task: results.Task{
				StartTime: start, StopTime: start.Add(2500 * time.Millisecond),
				Sections: []*report.Node{
					{ID: "1", Result: report.Outcome{Value: P}},
					{ID: "2", Result: report.Outcome{Value: F}, Sections: []*report.Node{
						{ID: "2.1", Result: report.Outcome{Value: F}}, // not counted: not top-level
					}},
					{ID: "3", Result: report.Outcome{Value: S}},
				},
			},
			wantSummary: results.Summary{Passed: 1, Failed: 1, Skipped: 1, Total: 3, SuccessRate: 200.0 / 3},
			wantRuntime: 2.5,
		},
		"never started": {
			task:        results.Task{StopTime: start},
			wantSummary: results.Summary{SuccessRate: 100},
			wantRuntime: 0,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tk := tc.task
			tk.Finish()
			if diff := cmp.Diff(tc.wantSummary, tk.Summary, cmpopts.EquateApprox(0, 1e-9)); diff != "" {
				t.Errorf("Summary (-want +got):\n%s", diff)
			}
			if tk.Runtime != tc.wantRuntime {
				t.Errorf("Runtime = %v, want %v", tk.Runtime, tc.wantRuntime)
			}
		})
	}
}

func sampleFile() *results.File {
	start := time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.FixedZone("CEST", 2*3600))
	r := results.Report{
		ID: "run-1", Name: "nightly", StartTime: start, StopTime: start.Add(time.Minute),
		Cmdline: "taskhost run job.hcl", Jobfile: "/jobs/job.hcl", JobfileSHA256: "abc123",
		Host: "build-7", Submitter: "ci", RunDir: "/runs/run-1",
		Variables: map[string]any{"device": "r1", "tags": []any{"a", "b"}},
		Tasks: []*results.Task{
			{
				ID: "Task-1", Pack: "demo", Task: "check", PID: 4242, Logfile: "TaskLog.Task-1",
				StartTime: start, StopTime: start.Add(30 * time.Second),
				Result: report.Outcome{Value: F, Reason: "ping lost", Data: json.RawMessage(`{"lost":3}`)},
				Sections: []*report.Node{{
					Type: report.TypeSection, ID: "1", Name: "setup", StartTime: start, StopTime: start.Add(time.Second),
					Runtime: 1, PID: 4242, Result: report.Outcome{Value: F},
					Sections: []*report.Node{{
						Type: report.TypeStep, ID: "1.1", Name: "ping", StartTime: start, StopTime: start.Add(time.Second),
						Runtime: 1, Result: report.Outcome{Value: F, Reason: "ping lost", Data: json.RawMessage(`{"rx":[1,2]}`)},
					}},
				}},
			},
			{ID: "Task-2", Pack: "demo", Task: "noop", Result: report.Outcome{Value: B, Reason: "dependency Task-1 ended Failed"}},
		},
	}
	for _, t := range r.Tasks {
		t.Finish()
	}
	r.Finish()
	return &results.File{Version: results.SchemaVersion, Report: r}
}

// compactRaw compares JSON texts by their compact form (Write indents them).
var compactRaw = cmp.Comparer(func(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
})

func TestWriteRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "results.json")
	want := sampleFile()
	if err := results.Write(path, want); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := results.Read(path)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	// A task with no sections is written as an empty list.
	for _, task := range want.Report.Tasks {
		if task.Sections == nil {
			task.Sections = []*report.Node{}
		}
	}
	if diff := cmp.Diff(want, got, compactRaw, cmpopts.IgnoreUnexported(report.Node{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if got.Report.Result != F || got.Report.Summary.Failed != 1 || got.Report.Summary.Blocked != 1 {
		t.Errorf("read back result %v, summary %+v; want failed with 1 failed and 1 blocked", got.Report.Result, got.Report.Summary)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"results.json"}, names); diff != "" {
		t.Errorf("directory after Write (-want +got):\n%s", diff)
	}
}

func TestWriteJSONLayout(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "results.json")
	if err := results.Write(path, sampleFile()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Version int `json:"version"`
		Report  struct {
			Result  string         `json:"result"`
			Summary map[string]any `json:"summary"`
			Tasks   []struct {
				ID     string         `json:"id"`
				Result map[string]any `json:"result"`
			} `json:"tasks"`
		} `json:"report"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != 1 || m.Report.Result != "failed" || len(m.Report.Tasks) != 2 {
		t.Fatalf("results.json = version %d, result %q, %d tasks; want 1, failed, 2", m.Version, m.Report.Result, len(m.Report.Tasks))
	}
	wantSummary := map[string]any{"passed": 0.0, "passx": 0.0, "failed": 1.0, "errored": 0.0, "aborted": 0.0,
		"blocked": 1.0, "skipped": 0.0, "total": 2.0, "success_rate": 0.0}
	if diff := cmp.Diff(wantSummary, m.Report.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	wantResult := map[string]any{"value": "failed", "reason": "ping lost", "data": map[string]any{"lost": 3.0}}
	if diff := cmp.Diff(wantResult, m.Report.Tasks[0].Result); diff != "" {
		t.Errorf("task result (-want +got):\n%s", diff)
	}
}

func TestWriteReplaces(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "results.json")
	if err := os.WriteFile(path, []byte(`{"version":0, "report": {"name": "old"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	f := sampleFile()
	if err := results.Write(path, f); err != nil {
		t.Fatal(err)
	}
	got, err := results.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Report.Name != "nightly" || got.Version != results.SchemaVersion {
		t.Errorf("after Write: name %q version %d, want nightly %d", got.Report.Name, got.Version, results.SchemaVersion)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("%d files in the directory after Write, want 1", len(entries))
	}
}

func TestWriteErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]struct {
		path string
		file *results.File
	}{
		"no such directory": {path: filepath.Join(dir, "missing", "results.json"), file: sampleFile()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := results.Write(tc.path, tc.file); err == nil {
				t.Fatal("Write = nil, want an error")
			}
			if _, err := os.Stat(tc.path); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failed Write", tc.path)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("left behind after failed Writes: %s", e.Name())
	}
}

// What one task reported that does not encode costs that task its
// sections, not the run its results.json: each part that does not encode
// is replaced, and every other task is written whole.
func TestWriteMendsWhatDoesNotEncode(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	good := []*report.Node{{Type: "step", ID: "1", Name: "ok", StartTime: now, StopTime: now,
		Result: report.Outcome{Value: P, Data: json.RawMessage(`{"rows": 3}`)}}}
	step := func(mod func(*report.Node)) []*report.Node {
		n := &report.Node{Type: "step", ID: "1", Name: "s", StartTime: now, StopTime: now, Result: report.Outcome{Value: P}}
		inner := *n
		inner.ID = "1.1"
		mod(&inner)
		n.Sections = []*report.Node{&inner}
		return []*report.Node{n}
	}
	f := &results.File{Version: 1, Report: results.Report{Name: "n", StartTime: now, StopTime: now,
		State: map[string]json.RawMessage{"ok": json.RawMessage(`1`), "bad": json.RawMessage(`{"a":`)},
		Hooks: []*results.HookRun{{Name: "h", Stage: "pre_job", StartTime: now, StopTime: now,
			Result: report.Outcome{Value: P}, Sections: step(func(n *report.Node) { n.Result.Data = json.RawMessage(`[`) })}},
		Tasks: []*results.Task{
			{ID: "good", StartTime: now, StopTime: now, Result: report.Outcome{Value: P}, Sections: good},
			{ID: "data", PID: 7, StartTime: now, StopTime: now, Result: report.Outcome{Value: P},
				Sections: step(func(n *report.Node) { n.Result.Data = json.RawMessage(`{"a":`) })},
			{ID: "time", StartTime: now, StopTime: now, Result: report.Outcome{Value: P},
				Sections: step(func(n *report.Node) { n.StopTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })},
			{ID: "output", StartTime: now, StopTime: now, Result: report.Outcome{Value: P},
				Outputs: map[string]json.RawMessage{"o": json.RawMessage(`nope`)}, Sections: []*report.Node{}},
			{ID: "own data", StartTime: now, StopTime: now, Result: report.Outcome{Value: P, Data: json.RawMessage(`}`)}},
		},
	}}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := results.Write(path, f); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := results.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	r := got.Report
	compactData := cmp.Transformer("compact", func(raw json.RawMessage) string {
		var b bytes.Buffer
		_ = json.Compact(&b, raw)
		return b.String()
	})
	if d := cmp.Diff(good, r.Tasks[0].Sections, cmpopts.IgnoreUnexported(report.Node{}), compactData); d != "" || r.Tasks[0].Result.Value != P {
		t.Errorf("the good task was not written whole (-want +got):\n%s", d)
	}
	for _, task := range r.Tasks[1:] {
		if task.Result.Value != E || !strings.Contains(task.Result.Reason, "its record could not be written") || len(task.Sections) != 0 {
			t.Errorf("task %s: %v %q, %d sections; want Errored, its record could not be written, none", task.ID,
				task.Result.Value, task.Result.Reason, len(task.Sections))
		}
	}
	if task := r.Tasks[1]; task.PID != 7 || !task.StartTime.Equal(now) || !strings.Contains(task.Result.Reason, "step 1.1: data is not JSON") {
		t.Errorf("task data: pid %d, start %v, reason %q; want its pid and times kept, and the step named", task.PID, task.StartTime, task.Result.Reason)
	}
	if h := r.Hooks[0]; h.Result.Value != E || len(h.Sections) != 0 {
		t.Errorf("hook: %v %q, want Errored without sections", h.Result.Value, h.Result.Reason)
	}
	if string(r.State["ok"]) != "1" || !strings.Contains(string(r.State["bad"]), "not JSON") {
		t.Errorf("state: %s", r.State)
	}
	if r.Summary.Errored != 4 || r.Summary.Passed != 1 || r.Result != E {
		t.Errorf("summary %+v, result %v; want 4 errored, 1 passed, errored", r.Summary, r.Result)
	}
	// The record in memory is the one written (the exit code, junit.xml and
	// report.html come from it).
	if f.Report.Tasks[1].Result.Value != E || f.Report.Summary.Errored != 4 {
		t.Errorf("in memory: task data %v, summary %+v", f.Report.Tasks[1].Result.Value, f.Report.Summary)
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": "one"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badResult := filepath.Join(dir, "badresult.json")
	if err := os.WriteFile(badResult, []byte(`{"report": {"result": "green"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path string
		want string
	}{
		"missing":        {path: filepath.Join(dir, "none.json"), want: "none.json"},
		"bad json":       {path: bad, want: bad},
		"unknown result": {path: badResult, want: "unknown result"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, err := results.Read(tc.path)
			if err == nil {
				t.Fatalf("Read = %+v, want an error", f)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestWriteSummary(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &results.Report{
		Name: "nightly", StartTime: start, StopTime: start.Add(65 * time.Second),
		Tasks: []*results.Task{
			{ID: "Task-1", Runtime: 1.5, Result: report.Outcome{Value: P}},
			{ID: "Task-2", Runtime: 0.25, Result: report.Outcome{Value: F, Reason: "ping lost\nsecond line of detail"}},
			{ID: "Task-3", Result: report.Outcome{Value: B, Reason: "dependency Task-2 ended Failed"}},
			{ID: "long-one", Result: report.Outcome{Value: E, Reason: strings.Repeat("x", 150)}},
		},
	}
	r.Finish()
	var buf bytes.Buffer
	results.WriteSummary(&buf, r)
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := []*regexp.Regexp{
		regexp.MustCompile(`^TASK +RESULT +DURATION +REASON$`),
		regexp.MustCompile(`^Task-1 +PASSED +1\.5s +$`),
		regexp.MustCompile(`^Task-2 +FAILED +250ms +ping lost$`),
		regexp.MustCompile(`^Task-3 +BLOCKED +0s +dependency Task-2 ended Failed$`),
		regexp.MustCompile(`^long-one +ERRORED +0s +x{97}\.\.\.$`),
		regexp.MustCompile(`^$`),
		regexp.MustCompile(`^Job nightly: ERRORED — 4 tasks: 1 passed, 0 passx, 1 failed, 1 errored, 0 aborted, 1 blocked, 0 skipped \(success rate 25\.0%\) in 1m5s$`),
	}
	if len(lines) != len(want) {
		t.Fatalf("WriteSummary printed %d lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, l := range lines {
		if !want[i].MatchString(l) {
			t.Errorf("line %d = %q, want it to match %s", i+1, l, want[i])
		}
	}
	// The columns line up: RESULT starts at the same place on every row.
	col := strings.Index(lines[0], "RESULT")
	for _, l := range lines[1:5] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("result column not at %d in %q", col, l)
		}
	}
	if strings.Contains(out, "second line of detail") {
		t.Error("a multi-line reason was printed in full; want its first line")
	}
}
