package python_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
)

// byHand runs a pack by hand (`PACK run TASK …`) with --events and
// returns its exit code, stdout, the events (without their times and
// pids) and the log lines (without their times and the elapsed time).
func byHand(t *testing.T, cmd []string, args ...string) (code int, stdout string, events []map[string]any, log []string) {
	t.Helper()
	dir := t.TempDir()
	evf := filepath.Join(dir, "events.jsonl")
	full := append(append(append([]string{}, cmd...), args...), "--events", evf)
	c := exec.Command(full[0], full[1:]...)
	c.Env = append(os.Environ(), "PYTHONPATH="+sdkDir(t))
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", full, err)
	}
	b, err := os.ReadFile(evf)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("event %q: %v", l, err)
		}
		delete(ev, "time")
		delete(ev, "pid")
		events = append(events, ev)
	}
	stamp := regexp.MustCompile(`^\S+ `)
	elapsed := regexp.MustCompile(`elapsed=\S+$`)
	for _, l := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
		log = append(log, elapsed.ReplaceAllString(stamp.ReplaceAllString(l, ""), "elapsed=X"))
	}
	return code, out.String(), events, log
}

func sdkDir(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

// goDemo builds the Go demo pack.
func goDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	out, err := exec.Command("go", "build", "-o", bin, "../../plugins/demo").CombinedOutput()
	if err != nil {
		t.Fatalf("build the demo pack: %v\n%s", err, out)
	}
	return bin
}

// TestPythonTasksReportAsGoTasks runs the Go demo pack's tasks and their
// Python port (tests/testdata/demo.py) by hand: the result trees, the
// events (kinds, ids, parents, types, results, reasons, data), the log
// lines and the exit codes must be the same.
func TestPythonTasksReportAsGoTasks(t *testing.T) {
	gobin := goDemo(t)
	pydemo := []string{python3, filepath.Join("tests", "testdata", "demo.py")}
	for name, args := range map[string][]string{
		"checks":            {"run", "checks", "--arg", "device=r1"},
		"hello":             {"run", "hello", "--arg", "name=lab", "--arg", "times=2"},
		"missing argument":  {"run", "hello"},
		"outputs, as JSON":  {"run", "lookup", "--arg", "name=r1", "--json"},
		"checks, no device": {"run", "checks", "-q"},
	} {
		t.Run(name, func(t *testing.T) {
			gcode, gout, gev, glog := byHand(t, []string{gobin}, args...)
			pcode, pout, pev, plog := byHand(t, pydemo, args...)
			if gcode != pcode {
				t.Errorf("exit code: Go %d, Python %d", gcode, pcode)
			}
			if name == "outputs, as JSON" {
				gout, pout = jsonShape(t, gout), jsonShape(t, pout)
			}
			if diff := cmp.Diff(gout, pout); diff != "" {
				t.Errorf("stdout (-Go +Python):\n%s", diff)
			}
			if diff := cmp.Diff(gev, pev); diff != "" {
				t.Errorf("events (-Go +Python):\n%s", diff)
			}
			if diff := cmp.Diff(glog, plog); diff != "" {
				t.Errorf("log lines (-Go +Python):\n%s", diff)
			}
		})
	}
}

// jsonShape is a `run --json` output without the values that differ from
// run to run (times, pids).
func jsonShape(t *testing.T, s string) string {
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	for _, n := range v["sections"].([]any) {
		m := n.(map[string]any)
		for _, k := range []string{"starttime", "stoptime", "runtime", "pid"} {
			delete(m, k)
		}
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// TestDescribeAsGo compares what `PACK describe` prints for the tasks
// the Go demo and its Python port share.
func TestDescribeAsGo(t *testing.T) {
	gobin := goDemo(t)
	describe := func(cmd ...string) map[string]json.RawMessage {
		c := exec.Command(cmd[0], append(cmd[1:], "describe")...)
		c.Env = append(os.Environ(), "PYTHONPATH="+sdkDir(t))
		out, err := c.Output()
		if err != nil {
			t.Fatalf("%v describe: %v", cmd, err)
		}
		var d struct {
			Tasks []json.RawMessage `json:"tasks"`
		}
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatal(err)
		}
		m := map[string]json.RawMessage{}
		for _, raw := range d.Tasks {
			var ti struct{ Name string }
			_ = json.Unmarshal(raw, &ti)
			m[ti.Name] = raw
		}
		return m
	}
	g := describe(gobin)
	p := describe(python3, filepath.Join("tests", "testdata", "demo.py"))
	for _, task := range []string{"hello", "checks", "lookup"} {
		if diff := cmp.Diff(string(g[task]), string(p[task])); diff != "" {
			t.Errorf("task %s (-Go +Python):\n%s", task, diff)
		}
	}
}

// startDemo starts the Python demo pack through the host's launch code.
func startDemo(t *testing.T) *launch.Process {
	t.Helper()
	p, err := launch.Start(context.Background(), launch.Config{
		Path: filepath.Join(sdkDir(t), "tests", "testdata", "demo.py"),
		Env:  []string{"PYTHONPATH=" + sdkDir(t)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// taskDir makes <run>/tasks/<id> and returns it.
func taskDir(t *testing.T, id string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "tasks", id)
	if err := os.MkdirAll(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func readLog(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "task.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestServedRun: a host's Run of a Python task (without a hub, which the
// SDK then reports to in memory) gets the task's result, outputs and
// last_seq, and the task's log is in task.log; a task the pack lacks is
// refused with the pack's message.
func TestServedRun(t *testing.T) {
	t.Parallel()
	p := startDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := taskDir(t, "lk")
	resp, err := p.Run(ctx, &packv1.RunRequest{Task: "lookup", TaskId: "lk", ArgsJson: []byte(`{"name":"r1"}`), LogDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want := &packv1.RunResponse{Result: "passed", LastSeq: 3, Outputs: map[string][]byte{"addr": []byte(`"192.0.2.91"`), "name": []byte(`"r1"`)}}
	if diff := cmp.Diff(want, resp, protocmp.Transform()); diff != "" {
		t.Errorf("response (-want +got):\n%s", diff)
	}
	if log := readLog(t, dir); !strings.Contains(log, "[INFO]  lk: r1 is 192.0.2.91: step=1\n") {
		t.Errorf("task.log:\n%s", log)
	}

	p2 := startDemo(t)
	_, err = p2.Run(ctx, &packv1.RunRequest{Task: "nope", TaskId: "x"})
	if st := status.Convert(err); st.Code() != codes.Unknown || st.Message() != "pack demo has no task 'nope'" {
		t.Errorf("run of an unknown task: %v", err)
	}
}

// TestServedRunMasksAndAborts: over the real wire, the sensitive values
// are masked in the reason and the log, and a task the host cancels while
// it sleeps ends Aborted at once, its step too.
func TestServedRunMasksAndAborts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := startDemo(t)
	dir := taskDir(t, "s")
	resp, err := p.Run(ctx, &packv1.RunRequest{Task: "secret", TaskId: "s", ArgsJson: []byte(`{"password":"hunter2-secret"}`),
		LogDir: dir, Sensitive: []string{"hunter2-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetResult() != "failed" || resp.GetReason() != "wrong password (sensitive)" {
		t.Errorf("response %v", resp)
	}
	if log := readLog(t, dir); !strings.Contains(log, "using (sensitive)") || strings.Contains(log, "using hunter2") {
		t.Errorf("task.log:\n%s", log)
	}

	p = startDemo(t)
	dir = taskDir(t, "w")
	wctx, wcancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := p.Run(wctx, &packv1.RunRequest{Task: "wait", TaskId: "w", ArgsJson: []byte(`{"seconds":300}`), LogDir: dir})
		errc <- err
	}()
	waitLog(ctx, t, dir, "STEP 1: wait 300s: step=1")
	wcancel()
	if err := <-errc; status.Code(err) != codes.Canceled {
		t.Errorf("run: %v, want Canceled", err)
	}
	waitLog(ctx, t, dir, "task w => ")
	log := readLog(t, dir)
	for _, want := range []string{"Aborted: stopped: context canceled: step=1\n", "STEP 1: wait 300s => Aborted: step=1\n", "task w => Aborted"} {
		if !strings.Contains(log, want) {
			t.Errorf("task.log lacks %q:\n%s", want, log)
		}
	}
}

// waitLog waits until the task.log in dir holds s, or ctx ends.
func waitLog(ctx context.Context, t *testing.T, dir, s string) {
	t.Helper()
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "task.log"))
		if strings.Contains(string(b), s) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("task.log never held %q:\n%s", s, b)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestHostRunsPythonTasks runs a jobfile of Python tasks beside a Go one
// with the real host and hub: results, outputs passed from a Python task
// to a Go one, an exception, a sensitive value, a timeout, and children of
// both kinds reporting under the step that started them.
func TestHostRunsPythonTasks(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+"/", "../../cmd/taskhost", "../../plugins/demo").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	job := filepath.Join(dir, "job.hcl")
	src := fmt.Sprintf(`job "py" {
  timeout = "5m"
}

variable "pw" {
  type      = string
  default   = "hunter2-secret"
  sensitive = true
}

pack "pydemo" {
  path = %q
}

pack "demo" {
  path = %q
}

task "checks" {
  pack = "pydemo"
  task = "checks"
  args = { device = "r1" }
}

task "lookup" {
  pack = "pydemo"
  task = "lookup"
  args = { name = "r1" }
}

task "hello" {
  pack = "demo"
  task = "hello"
  args = { name = task.lookup.output.addr }
}

task "crash" {
  pack = "pydemo"
  task = "crash"
}

task "secret" {
  pack = "pydemo"
  task = "secret"
  args = { password = var.pw }
}

task "wait" {
  pack    = "pydemo"
  task    = "wait"
  args    = { seconds = 300 }
  timeout = "3s"
}

task "children" {
  pack = "pydemo"
  task = "children"
  args = { go_pack = %q }
}
`, filepath.Join(sdkDir(t), "tests", "testdata", "demo.py"), filepath.Join(bin, "demo"), filepath.Join(bin, "demo"))
	if err := os.WriteFile(job, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(dir, "runs")
	cmd := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, job)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+sdkDir(t))
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("taskhost run: %v, want exit status 1\n%s", err, out)
	}
	matches, _ := filepath.Glob(filepath.Join(runs, "py.*", "results.json"))
	if len(matches) != 1 {
		t.Fatalf("results.json: %v\n%s", matches, out)
	}
	f, err := results.Read(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	tasks := map[string]*results.Task{}
	for _, tk := range f.Report.Tasks {
		tasks[tk.ID] = tk
	}
	type row struct{ ID, Name, Result, Reason string }
	var flat func(ns []*report.Node) []row
	flat = func(ns []*report.Node) []row {
		var out []row
		for _, n := range ns {
			out = append(out, row{n.ID, n.Name, n.Result.Value.String(), n.Result.Reason})
			out = append(out, flat(n.Sections)...)
		}
		return out
	}
	check := func(id, result, reason string) *results.Task {
		t.Helper()
		tk := tasks[id]
		if tk == nil {
			t.Fatalf("no task %s in results.json", id)
		}
		if got := tk.Result.Value.String(); got != result || (reason != "" && !strings.Contains(tk.Result.Reason, reason)) {
			t.Errorf("task %s: %s %q, want %s %q", id, got, tk.Result.Reason, result, reason)
		}
		return tk
	}

	tk := check("checks", "failed", "")
	if diff := cmp.Diff([]row{
		{"1", "setup", "passed", ""}, {"1.1", "connect", "passed", ""},
		{"2", "interfaces", "failed", ""}, {"2.1", "Gi0/1 is up", "passed", ""},
		{"2.2", "Gi0/2 is up", "failed", "Gi0/2 is down (expected up)"},
		{"2.3", "Gi0/3 counters", "passx", ""}, {"2.3.1", "input errors", "passed", ""},
		{"2.3.2", "CRC errors", "passx", "3 CRC errors, under the limit of 10"},
		{"3", "routing", "blocked", ""}, {"3.1", "OSPF neighbours", "skipped", "OSPF is not configured on this device"},
		{"3.2", "BGP sessions", "blocked", "needs the BGP feature set"},
		{"4", "cleanup", "passed", ""}, {"4.1", "disconnect", "passed", ""},
	}, flat(tk.Sections)); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if l := tk.Sections[1].Sections[1].Logs; l == nil || l.File != "tasks/checks/task.log" || l.Size == 0 {
		t.Errorf("step 2.2's logs: %+v", l)
	}

	tk = check("lookup", "passed", "")
	if got := string(tk.Outputs["addr"]); got != `"192.0.2.91"` {
		t.Errorf("lookup's output addr: %s", got)
	}
	tk = check("hello", "passed", "")
	var data bytes.Buffer
	if err := json.Compact(&data, tk.Sections[0].Result.Data); err != nil || data.String() != `{"greetings":1,"name":"192.0.2.91"}` {
		t.Errorf("hello's data: %s (%v)", tk.Sections[0].Result.Data, err)
	}
	tk = check("crash", "errored", "")
	if diff := cmp.Diff([]row{{"1", "before the crash", "passed", ""}, {"2", "the crash", "errored", "KeyError: 'boom'"}}, flat(tk.Sections)); diff != "" {
		t.Errorf("crash (-want +got):\n%s", diff)
	}
	check("secret", "failed", "wrong password (sensitive)")
	check("wait", "aborted", "timed out")

	// The Python child's inner step failed: the host rolls it up into the
	// task's result.
	tk = check("children", "failed", "inner failed")
	rows := flat(tk.Sections)
	var names []string
	for _, r := range rows {
		names = append(names, r.Name+" "+r.Result)
	}
	want := []string{"python child failed", "child step failed", "inner failed", "go child passed", "greet passed"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("children (-want +got):\n%s\n%+v", diff, rows)
	}
	for _, r := range rows[1:3] {
		if !strings.HasPrefix(r.ID, "1/") {
			t.Errorf("the Python child's step %s is not under step 1", r.ID)
		}
	}
	if !strings.HasPrefix(rows[4].ID, "2/") {
		t.Errorf("the Go child's step %s is not under step 2", rows[4].ID)
	}
	if len(tk.Logs) != 2 {
		t.Errorf("children's logs: %v, want two pid-<pid>.log", tk.Logs)
	}
}
