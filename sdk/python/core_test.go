package python_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
