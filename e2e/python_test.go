package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// python3 is Debian's interpreter, which the Python packs of these tests
// run with: the first python3 on PATH may be another one (pyenv).
const python3 = "/usr/bin/python3"

// pySDK is the Python SDK of this checkout.
const pySDK = "../sdk/python"

var pyBuilds sync.Map // pack directory -> *pyBuilt

type pyBuilt struct {
	once sync.Once
	path string
	err  error
}

// pyPack builds the Python pack in dir (relative to e2e/) once for the
// package, with python3 -m taskhost build and Debian's python3 on the #!
// line, and returns the zipapp's path.
func pyPack(t *testing.T, dir string) string {
	t.Helper()
	v, _ := pyBuilds.LoadOrStore(dir, &pyBuilt{})
	b := v.(*pyBuilt)
	b.once.Do(func() {
		b.path = filepath.Join(bin, "py-"+filepath.Base(dir))
		b.err = pyBuild(dir, b.path)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// pyBuild runs python3 -m taskhost build dir -o out --python python3.
func pyBuild(dir, out string) error {
	cmd := exec.Command(python3, "-m", "taskhost", "build", dir, "-o", out, "--python", python3)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+pySDK)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("python3 -m taskhost build %s: %v\n%s", dir, err, b)
	}
	return nil
}

// TestPythonBuildIsReproducible: two builds of a pack give the same
// bytes (so packs lock can pin them), and the file is an executable
// zipapp with the #! line asked for.
func TestPythonBuildIsReproducible(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, out := range []string{a, b} {
		if err := pyBuild("../plugins/pynet", out); err != nil {
			t.Fatal(err)
		}
	}
	if sa, sb := sha256Hex(t, a), sha256Hex(t, b); sa != sb {
		t.Errorf("two builds differ: %s and %s", sa, sb)
	}
	data := mustRead(t, a)
	if !strings.HasPrefix(data, "#!"+python3+"\nPK") {
		t.Errorf("not a zipapp with #!%s: %q", python3, data[:min(40, len(data))])
	}
	if st, err := os.Stat(a); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("not executable: %v %v", st, err)
	}
}

// TestPythonPackInstallLockRun: a built Python pack installs, locks and
// runs as a Go pack's binary does, and a changed byte is refused.
func TestPythonPackInstallLockRun(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	pack := filepath.Join(work, "pynet")
	if err := pyBuild("../plugins/pynet", pack); err != nil {
		t.Fatal(err)
	}
	r := packsCmd(t, work, "", "packs", "install", pack)
	if r.code != 0 || !strings.Contains(r.stdout, "Installed pynet 0.1.0") {
		t.Fatalf("install: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	jobfile := filepath.Join(work, "job.hcl")
	if err := os.WriteFile(jobfile, []byte(`
required_packs {
  pynet = { version = "~> 0.1" }
}
job "installed" {}
task "ts" {
  pack = "pynet"
  task = "testscript"
  args = { device = "r1" }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256Hex(t, pack)
	r = packsCmd(t, work, "", "packs", "lock", "job.hcl")
	if r.code != 0 || !strings.Contains(r.stdout, "pynet 0.1.0 sha256 "+sum[:8]) {
		t.Fatalf("lock: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if lock := mustRead(t, filepath.Join(work, "taskhost.lock.hcl")); !strings.Contains(lock, sum) {
		t.Errorf("the lock does not pin %s:\n%s", sum, lock)
	}
	r = packsCmd(t, work, "", "run", "--runs-dir", "runs", "job.hcl")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := taskByID(t, r.results(t), "ts").Result.Value; got != result.Passed {
		t.Errorf("ts: %s", got)
	}
	// A rebuild installs as the same release; a changed byte is refused.
	installed := filepath.Join(work, ".taskhost", "packs", "pynet", "0.1.0")
	var bin string
	_ = filepath.WalkDir(installed, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "pynet" && !d.IsDir() {
			bin = p
		}
		return nil
	})
	if bin == "" || sha256Hex(t, bin) != sum {
		t.Fatalf("installed binary %q is not the build", bin)
	}
	flipByte(t, bin)
	r = packsCmd(t, work, "", "run", "--runs-dir", "runs-refused", "job.hcl")
	if r.code != 2 || !strings.Contains(r.stderr, "does not match the lock") {
		t.Errorf("run of a changed pack: exit %d\n%s", r.code, r.stderr)
	}
}

// TestPythonScaffoldFiles: packs new --lang python writes the pack, its
// test and a copy of this checkout's Python SDK, which builds it.
func TestPythonScaffoldFiles(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	r := packsCmd(t, work, "", "packs", "new", "--lang", "python", "greet")
	if r.code != 0 {
		t.Fatalf("packs new: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := filepath.Join(work, "greet")
	for _, f := range []string{"pack.py", "test_pack.py", "Makefile", "README.md", "example.hcl", ".gitignore"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if p := mustRead(t, filepath.Join(dir, "pack.py")); !strings.Contains(p, `Pack("greet", "0.1.0")`) || !strings.Contains(p, "pack.run()") {
		t.Errorf("pack.py:\n%s", p)
	}
	if p := mustRead(t, filepath.Join(dir, "test_pack.py")); !strings.Contains(p, "from taskhost import sdktest") {
		t.Errorf("test_pack.py:\n%s", p)
	}
	sdk, _ := filepath.Glob(filepath.Join(pySDK, "taskhost", "*.py"))
	if len(sdk) == 0 {
		t.Fatal("no SDK modules in " + pySDK)
	}
	for _, src := range sdk {
		vendored := filepath.Join(dir, "taskhost", filepath.Base(src))
		if mustRead(t, vendored) != mustRead(t, src) {
			t.Errorf("%s is not a copy of %s", vendored, src)
		}
	}
	// The copy builds the pack, with nothing on PYTHONPATH.
	cmd := exec.Command(python3, "-m", "taskhost", "build", ".", "-o", "bin/greet")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PYTHONPATH=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	if data := mustRead(t, filepath.Join(dir, "bin", "greet")); !strings.HasPrefix(data, "#!/usr/bin/env python3\n") {
		t.Errorf("bin/greet: %q", data[:min(40, len(data))])
	}
	// Packs in other languages are refused.
	if r := packsCmd(t, work, "", "packs", "new", "--lang", "cobol", "x"); r.code != 2 || !strings.Contains(r.stderr, "go and python") {
		t.Errorf("--lang cobol: exit %d\n%s", r.code, r.stderr)
	}
}

// TestPythonScaffoldSteps: the steps packs new --lang python prints, as
// typed: its test (through this taskhost), its build, install, lock and a
// run of its jobfile.
func TestPythonScaffoldSteps(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"make", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	work := t.TempDir()
	r := packsCmd(t, work, "", "packs", "new", "--lang", "python", "greet")
	steps := nextSteps(r.stdout)
	if r.code != 0 || len(steps) != 6 || steps[0] != "cd greet" {
		t.Fatalf("packs new: exit %d, steps %q\n%s%s", r.code, steps, r.stdout, r.stderr)
	}
	// taskhost on the PATH as make install puts it; make runs Debian's
	// python3 (PYTHON), as the tests do everywhere.
	cmd := exec.Command("sh", "-e", "-x", "-c", strings.Join(steps, "\n"))
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "PYTHON="+python3, "TASKHOST_PACKS_DIR=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the steps: %v\n%s", err, out.String())
	}
	for _, want := range []string{"test_hello", "test_closed_port", "Ran 4 tests", "OK", "Installed greet 0.1.0", "PASSED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the steps' output lacks %q:\n%s", want, out.String())
		}
	}
	packDir := filepath.Join(work, "greet")
	if lock := mustRead(t, filepath.Join(packDir, "taskhost.lock.hcl")); !strings.Contains(lock, sha256Hex(t, filepath.Join(packDir, "bin", "greet"))) {
		t.Errorf("the lock does not pin bin/greet:\n%s", lock)
	}
}

// TestPythonAndGoInOneJob: Go and Python tasks in one jobfile, with
// dependencies, outputs handed both ways and a counter in the shared
// state that both add to; results.json, junit.xml and report.html hold
// them all.
func TestPythonAndGoInOneJob(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, fmt.Sprintf(`
job "mixed" { max_parallel = 4 }
pack "pynet" { path = %q }
state {
  hits = 100
}
task "provide" {
  pack = "testpack"
  task = "provide"
  args = { addr = "192.0.2.7", port = 830 }
}
task "count" {
  pack = "testpack"
  task = "count"
  args = { key = "hits", n = 5 }
}
task "relay" {
  pack       = "pynet"
  task       = "relay"
  args       = { addr = task.provide.output.addr, port = task.provide.output.port, times = 3 }
  depends_on = [task.count]
}
task "consume" {
  pack = "testpack"
  task = "consume"
  args = { device = "r1", target = task.relay.output.target, addr = "192.0.2.8", port = task.relay.output.count }
}
task "testscript" {
  pack = "pynet"
  task = "testscript"
  args = { device = "r1", down = ["Gi0/2"] }
}
`, pyPack(t, "../plugins/pynet"))))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (testscript fails)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	want := map[string]result.Result{"provide": result.Passed, "count": result.Passed, "relay": result.Passed,
		"consume": result.Passed, "testscript": result.Failed}
	for id, res := range want {
		if task := taskByID(t, f, id); task.Result.Value != res {
			t.Errorf("%s: %s %q, want %s", id, task.Result.Value, task.Result.Reason, res)
		}
	}
	relay := taskByID(t, f, "relay")
	outs := map[string]string{}
	for k, v := range relay.Outputs {
		outs[k] = string(v)
	}
	// 100 from the jobfile, 5 from the Go task, then 3 from the Python one.
	if outs["target"] != `"192.0.2.7:830"` || outs["count"] != "108" {
		t.Errorf("relay's outputs: %v", outs)
	}
	if seen := string(taskByID(t, f, "consume").Outputs["seen"]); seen != `"r1(192.0.2.7:830) via 192.0.2.8:108"` {
		t.Errorf("consume saw %s", seen)
	}
	if hits := string(f.Report.State["hits"]); hits != "108" {
		t.Errorf("the final state's hits = %s, want 108", hits)
	}
	// The Python tasks' trees are whole, with their logs.
	if names := strings.Join(stepNames(relay.Sections), ","); names != "target,add 3 to hits" {
		t.Errorf("relay's steps: %s", names)
	}
	for _, s := range relay.Sections {
		if s.Logs == nil || s.Logs.File != "tasks/relay/task.log" {
			t.Errorf("relay's step %s has no log range: %+v", s.Name, s.Logs)
		}
	}
	if log := mustRead(t, filepath.Join(r.runDir(t), "tasks", "relay", "task.log")); !strings.Contains(log, "target 192.0.2.7:830") {
		t.Errorf("relay's task.log:\n%s", log)
	}
	checkJUnit(t, r.runDir(t), f)
	html := mustRead(t, filepath.Join(r.runDir(t), "report.html"))
	for _, w := range []string{"relay", "testscript", "Gi0/2 is up", "Gi0/2 is down (expected up)", "add 3 to hits"} {
		if !strings.Contains(html, w) && !strings.Contains(html, jsonText(w)) {
			t.Errorf("report.html lacks %q", w)
		}
	}
}

// jsonText is s as it appears inside a JSON string.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// TestPythonTestscript: a port of an aetest testscript (common setup,
// two testcases, common cleanup) reports pyATS's tree and results.
func TestPythonTestscript(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, fmt.Sprintf(`
job "aetest" {}
pack "pynet" { path = %q }
task "r1" {
  pack = "pynet"
  task = "testscript"
  args = { device = "r1", down = ["Gi0/2"] }
}
task "r2" {
  pack = "pynet"
  task = "testscript"
  args = { device = "r2", bgp = true }
}
`, pyPack(t, "../plugins/pynet"))))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	tree := func(ns []*report.Node) string {
		var lines []string
		var walk func([]*report.Node, string)
		walk = func(ns []*report.Node, indent string) {
			for _, n := range ns {
				line := fmt.Sprintf("%s%s %s %s %s", indent, n.ID, n.Type, n.Name, n.Result.Value)
				if n.Result.Reason != "" {
					line += ": " + n.Result.Reason
				}
				lines = append(lines, line)
				walk(n.Sections, indent+"  ")
			}
		}
		walk(ns, "")
		return strings.Join(lines, "\n")
	}
	wantR1 := `1 section common_setup passed
  1.1 step connect to r1 passed
  1.2 step check the version passed
2 section interfaces failed
  2.1 step Gi0/1 is up passed
  2.2 step Gi0/2 is up failed: Gi0/2 is down (expected up)
  2.3 step Gi0/3 is up passed
3 section routes passed
  3.1 step default route passed
  3.2 step bgp neighbours skipped: no BGP on r1
4 section common_cleanup passed
  4.1 step disconnect passed`
	r1 := taskByID(t, f, "r1")
	if got := tree(r1.Sections); got != wantR1 {
		t.Errorf("r1's tree:\n%s\nwant:\n%s", got, wantR1)
	}
	if r1.Result.Value != result.Failed || r1.Result.Reason != "2.2 Gi0/2 is up: Gi0/2 is down (expected up)" {
		t.Errorf("r1: %s %q", r1.Result.Value, r1.Result.Reason)
	}
	r2 := taskByID(t, f, "r2")
	if r2.Result.Value != result.Passed || !strings.Contains(tree(r2.Sections), "3.2 step bgp neighbours passed") {
		t.Errorf("r2: %s\n%s", r2.Result.Value, tree(r2.Sections))
	}
	// The summary counts the testcases (the top-level sections), as pyATS does.
	if s := r1.Summary; s.Passed != 3 || s.Failed != 1 || s.Total != 4 {
		t.Errorf("r1's summary: %+v", s)
	}
}

// TestPythonValidateArgType: validate checks a jobfile against a Python
// task's argument types, from its type hints, and names the line.
func TestPythonValidateArgType(t *testing.T) {
	t.Parallel()
	body := fmt.Sprintf(`job "x" {}
pack "pynet" { path = %q }
task "ts" {
  pack = "pynet"
  task = "testscript"
  args = { device = "r1", down = "Gi0/2" }
}
task "ping" {
  pack = "pynet"
  task = "ping"
  args = { host = "localhost", count = "three" }
}
`, pyPack(t, "../plugins/pynet"))
	path := job(t, body)
	prefix := strings.Count(mustRead(t, path), "\n") - strings.Count(body, "\n")
	r := taskhost(t, "validate", path)
	if r.code != 2 {
		t.Fatalf("validate: exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, line := range []int{6, 11} {
		where := path + ":" + strconv.Itoa(prefix+line) + ":"
		if !strings.Contains(r.stderr, where) {
			t.Errorf("validate does not name %s:\n%s", where, r.stderr)
		}
	}
	for _, w := range []string{"Invalid argument value", "down", "count"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("validate does not say %q:\n%s", w, r.stderr)
		}
	}
}

// TestPythonFaults: every way a Python pack's process can fail is its
// task's result with its reason; the other tasks pass, and no process
// is left.
func TestPythonFaults(t *testing.T) {
	t.Parallel()
	fault := pyPack(t, "testdata/pyfault")
	dir := t.TempDir()
	named := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(mustRead(t, fault)), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pidFile := filepath.Join(dir, "child.pid")
	r := taskhost(t, "run", job(t, fmt.Sprintf(`
job "pyfaults" {
  max_parallel = 4
  grace        = "500ms"
}
pack "pyfault"    { path = %q }
pack "chatty"     { path = %q }
pack "printy"     { path = %q }
pack "otherproto" { path = %q }
task "raises" {
  pack = "pyfault"
  task = "exception"
}
task "exits" {
  pack = "pyfault"
  task = "exit"
  args = { status = 3 }
}
task "killed" {
  pack = "pyfault"
  task = "kill"
}
task "hangs" {
  pack    = "pyfault"
  task    = "hang"
  args    = { child_pid_file = %q }
  timeout = "5s" # time to start its child on a loaded machine
}
task "chatty" {
  pack = "chatty"
  task = "pass"
}
task "other" {
  pack = "otherproto"
  task = "pass"
}
task "printy" {
  pack = "printy"
  task = "pass"
}
task "fine" {
  pack = "pyfault"
  task = "pass"
}
task "go" {
  pack = "testpack"
  task = "pass"
}
`, fault, named("chatty"), named("printy"), named("otherproto"), pidFile)))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	cases := map[string]struct {
		res    result.Result
		reason string
	}{
		"raises": {result.Errored, "1 divide: ValueError: no route to 192.0.2.9"},
		"exits":  {result.Errored, "exited with status 3"},
		"killed": {result.Errored, "killed by SIGKILL"},
		"hangs":  {result.Aborted, "timed out after 5s"},
		"chatty": {result.Errored, "must not print to stdout before"},
		"other":  {result.Errored, "Plugin version: 99, Client versions: [1 2]"},
		"printy": {result.Passed, ""},
		"fine":   {result.Passed, ""},
		"go":     {result.Passed, ""},
	}
	for id, c := range cases {
		task := taskByID(t, f, id)
		if task.Result.Value != c.res || !strings.Contains(task.Result.Reason, c.reason) {
			t.Errorf("%s: %s %q, want %s with %q", id, task.Result.Value, task.Result.Reason, c.res, c.reason)
		}
	}
	runDir := r.runDir(t)
	// The exception's traceback is in the log; printy's line too.
	if log := mustRead(t, filepath.Join(runDir, "tasks", "raises", "task.log")); !strings.Contains(log, "Traceback (most recent call last)") || !strings.Contains(log, `raise ValueError("no route to 192.0.2.9")`) {
		t.Errorf("raises/task.log has no traceback:\n%s", log)
	}
	if log := mustRead(t, filepath.Join(runDir, "tasks", "printy", "task.log")); !strings.Contains(log, "a stray line before serving") {
		t.Errorf("printy/task.log lacks the printed line:\n%s", log)
	}
	// No process left: the tasks' and the hanging task's child.
	pids := []int{}
	for _, task := range f.Report.Tasks {
		if task.PID > 0 {
			pids = append(pids, task.PID)
		}
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the hanging task did not start its child: %v", err)
	}
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	pids = append(pids, child)
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("process %d is still running after the run", pid)
		}
	}
}
