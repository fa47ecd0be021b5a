package python_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/taskhost/taskhost/internal/proto/packv1"
)

// python is the interpreter the SDK is tested with (Debian's).
const python = "/usr/bin/python3"

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
	pydemo := []string{python, filepath.Join("tests", "testdata", "demo.py")}
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
	p := describe(python, filepath.Join("tests", "testdata", "demo.py"))
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
