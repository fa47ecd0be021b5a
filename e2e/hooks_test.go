package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/sdk/result"
)

// The packs of the hook, debug and interactive tests, built once when the
// first of them needs them.
var (
	extraOnce sync.Once
	extraErr  error
)

func extraPacks(t *testing.T) {
	t.Helper()
	extraOnce.Do(func() {
		// hookpack as docs/debugging.md says to build a pack to debug.
		for _, args := range [][]string{
			{"build", "-gcflags=all=-N -l", "-o", bin + "/", "../internal/testpack/hookpack"},
			{"build", "-o", bin + "/", "../plugins/notify"},
		} {
			out, err := exec.Command("go", args...).CombinedOutput()
			if err != nil {
				extraErr = fmt.Errorf("go %v: %v\n%s", args, err, out)
				return
			}
		}
	})
	if extraErr != nil {
		t.Fatal(extraErr)
	}
}

// hookJob writes a jobfile with the hookpack and notify packs declared.
func hookJob(t *testing.T, body string) string {
	t.Helper()
	extraPacks(t)
	src := fmt.Sprintf(`
pack "hookpack" { path = %q }
pack "notify"   { path = %q }
`, filepath.Join(bin, "hookpack"), filepath.Join(bin, "notify")) + body
	path := filepath.Join(t.TempDir(), "job.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func recordHook(name, file string, order int, extra string) string {
	return fmt.Sprintf(`
hook %q {
  pack  = "hookpack"
  hook  = "record"
  order = %d
  args  = { file = %q, label = %q %s }
}
`, name, order, file, name, extra)
}

// Pre stages run by order (then file order), post stages in reverse; a
// pre_job hook's shared state reaches the tasks, and the hooks see the
// results so far.
func TestHookOrder(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls")
	path := hookJob(t, `
job "hooks" { max_parallel = 1 }
hook "seed" {
  pack = "hookpack"
  hook = "seed"
}
task "t1" {
  pack = "hookpack"
  task = "pass"
}
task "t2" {
  pack       = "hookpack"
  task       = "seeded"
  depends_on = [task.t1]
}
`+recordHook("a", log, 20, "")+recordHook("b", log, 10, "")+recordHook("c", log, 10, ""))
	r := taskhost(t, "run", path)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	want := []string{
		"b pre_job - passed total=0", "c pre_job - passed total=0", "a pre_job - passed total=0",
		"b pre_task t1 - total=0", "c pre_task t1 - total=0", "a pre_task t1 - total=0",
		"a post_task t1 passed total=1", "c post_task t1 passed total=1", "b post_task t1 passed total=1",
		"b pre_task t2 - total=1", "c pre_task t2 - total=1", "a pre_task t2 - total=1",
		"a post_task t2 passed total=2", "c post_task t2 passed total=2", "b post_task t2 passed total=2",
		"a post_job - passed total=2", "c post_job - passed total=2", "b post_job - passed total=2",
	}
	if diff := cmp.Diff(want, readLines(t, log)); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
	f := r.results(t)
	if got := taskByID(t, f, "t2").Result.Value; got != result.Passed {
		t.Errorf("t2 (reads the state the pre_job hook wrote) = %s: %s", got, taskByID(t, f, "t2").Result.Reason)
	}
	if n := len(f.Report.Hooks); n != 19 {
		t.Errorf("results.json has %d hook calls, want 19 (18 record + 1 seed)", n)
	}
	for _, h := range f.Report.Hooks {
		if h.Result.Value != result.Passed || h.PID == 0 || h.Logfile == "" {
			t.Errorf("hook call %+v", h)
		}
	}
}

// A pre_job hook that fails blocks every task; post_job hooks still run;
// the exit code is 3.
func TestHookPreJobFails(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls")
	path := hookJob(t, `
job "hooks" {}
task "t1" {
  pack = "hookpack"
  task = "pass"
}
task "t2" {
  pack = "hookpack"
  task = "pass"
}
`+recordHook("ok", log, 1, "")+recordHook("bad", log, 2, `, fail_at = "pre_job"`)+recordHook("never", log, 3, ""))
	r := taskhost(t, "run", path)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	want := []string{
		"ok pre_job - passed total=0", "bad pre_job - passed total=0",
		"never post_job - blocked total=2", "bad post_job - blocked total=2", "ok post_job - blocked total=2",
	}
	if diff := cmp.Diff(want, readLines(t, log)); diff != "" {
		t.Errorf("hook calls (-want +got):\n%s", diff)
	}
	f := r.results(t)
	for _, id := range []string{"t1", "t2"} {
		tr := taskByID(t, f, id)
		if tr.Result.Value != result.Blocked || !strings.Contains(tr.Result.Reason, "pre_job hook bad failed") || tr.PID != 0 {
			t.Errorf("%s: %s (%s), pid %d; want Blocked by the pre_job hook, never started", id, tr.Result.Value, tr.Result.Reason, tr.PID)
		}
	}
	failed := failedHooks(f)
	if diff := cmp.Diff([]string{"bad pre_job  failed: bad fails at pre_job on purpose"}, failed); diff != "" {
		t.Errorf("failed hook calls (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.stdout, "1 hook call(s) failed (exit code 3)") {
		t.Errorf("summary does not tell of the hook:\n%s", r.stdout)
	}
}

// A pre_task hook that fails blocks that task (and what depends on it),
// and only that.
func TestHookPreTaskFails(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls")
	path := hookJob(t, `
job "hooks" {}
task "t1" {
  pack = "hookpack"
  task = "pass"
}
task "t2" {
  pack = "hookpack"
  task = "pass"
}
task "t3" {
  pack       = "hookpack"
  task       = "pass"
  depends_on = [task.t1]
}
`+recordHook("gate", log, 1, `, fail_at = "pre_task", fail_task = "t1"`))
	r := taskhost(t, "run", path)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	if tr := taskByID(t, f, "t1"); tr.Result.Value != result.Blocked || !strings.Contains(tr.Result.Reason, "pre_task hook gate failed") || tr.PID != 0 {
		t.Errorf("t1: %s (%s) pid %d; want Blocked by the pre_task hook, never started", tr.Result.Value, tr.Result.Reason, tr.PID)
	}
	if tr := taskByID(t, f, "t2"); tr.Result.Value != result.Passed {
		t.Errorf("t2: %s (%s), want Passed", tr.Result.Value, tr.Result.Reason)
	}
	if tr := taskByID(t, f, "t3"); tr.Result.Value != result.Blocked {
		t.Errorf("t3 (depends on t1): %s, want Blocked", tr.Result.Value)
	}
	if diff := cmp.Diff([]string{"gate pre_task t1 failed: gate fails at pre_task on purpose"}, failedHooks(f)); diff != "" {
		t.Errorf("failed hook calls (-want +got):\n%s", diff)
	}
	// post_task runs around t1 too, and sees it Blocked.
	lines := readLines(t, log)
	if !contains(lines, "gate post_task t1 blocked") || !contains(lines, "gate post_task t2 passed") {
		t.Errorf("post_task calls missing:\n%s", strings.Join(lines, "\n"))
	}
}

// A post_task hook that fails and a post_job hook whose process dies are
// recorded and give exit code 3; the tasks keep their results.
func TestHookPostFails(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls")
	path := hookJob(t, `
job "hooks" {}
task "t1" {
  pack = "hookpack"
  task = "pass"
}
`+recordHook("after", log, 1, `, fail_at = "post_task"`)+recordHook("crash", log, 2, `, fail_at = "post_job", crash = true`))
	r := taskhost(t, "run", path)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	if tr := taskByID(t, f, "t1"); tr.Result.Value != result.Passed {
		t.Errorf("t1: %s, want Passed", tr.Result.Value)
	}
	want := []string{
		"after post_task t1 failed: after fails at post_task on purpose",
		"crash post_job  errored: exited with status 7",
	}
	if diff := cmp.Diff(want, failedHooks(f)); diff != "" {
		t.Errorf("failed hook calls (-want +got):\n%s", diff)
	}
}

func failedHooks(f *results.File) []string {
	var out []string
	for _, h := range f.Report.Hooks {
		if h.Failed() {
			out = append(out, fmt.Sprintf("%s %s %s %s: %s", h.Name, h.Stage, h.Task, h.Result.Value, h.Result.Reason))
		}
	}
	return out
}

func contains(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// The notify pack's webhook hook posts the run's summary to a server.
func TestNotifyWebhook(t *testing.T) {
	type post struct {
		method, ctype, auth string
		body                []byte
	}
	posts := make(chan post, 4)
	var status atomic.Int32
	status.Store(http.StatusNoContent)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posts <- post{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), b}
		if code := int(status.Load()); code != http.StatusNoContent {
			http.Error(w, "no such channel", code)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	path := hookJob(t, fmt.Sprintf(`
job "notified" {}
task "good" {
  pack = "hookpack"
  task = "pass"
}
task "bad" {
  pack = "hookpack"
  task = "seeded"
}
hook "chat" {
  pack = "notify"
  hook = "webhook"
  args = { url = %q, headers = { Authorization = "Bearer s3cret" } }
}
`, srv.URL+"/hooks/T1"))

	r := taskhost(t, "run", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (a task failed, the hook did not)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	p := <-posts
	if p.method != http.MethodPost || p.ctype != "application/json" || p.auth != "Bearer s3cret" {
		t.Errorf("request: %s, Content-Type %q, Authorization %q", p.method, p.ctype, p.auth)
	}
	var sum struct {
		Job     string          `json:"job"`
		RunID   string          `json:"run_id"`
		Result  string          `json:"result"`
		Summary results.Summary `json:"summary"`
		Tasks   []struct {
			ID, Result, Reason string
		} `json:"tasks"`
	}
	if err := json.Unmarshal(p.body, &sum); err != nil {
		t.Fatalf("%v: %s", err, p.body)
	}
	f := r.results(t)
	if sum.Job != "notified" || sum.RunID != f.Report.ID || sum.Result != "failed" ||
		sum.Summary.Total != 2 || sum.Summary.Passed != 1 || sum.Summary.Failed != 1 || sum.Summary.SuccessRate != 50 {
		t.Errorf("posted summary: %s", p.body)
	}
	if len(sum.Tasks) != 2 || sum.Tasks[0].ID != "good" || sum.Tasks[0].Result != "passed" || sum.Tasks[1].Result != "failed" {
		t.Errorf("posted tasks: %+v", sum.Tasks)
	}
	if len(f.Report.Hooks) != 1 || f.Report.Hooks[0].Result.Value != result.Passed || len(f.Report.Hooks[0].Sections) != 1 {
		t.Fatalf("hook record: %+v", f.Report.Hooks)
	}
	// The hook's step and its log lines are in the run directory.
	h := f.Report.Hooks[0]
	if h.Logfile != "hooks/chat.post_job/task.log" || h.Sections[0].Logs == nil || h.Sections[0].Logs.File != h.Logfile {
		t.Errorf("hook log %q, step's log %+v", h.Logfile, h.Sections[0].Logs)
	} else if b, err := os.ReadFile(filepath.Join(r.runDir(t), h.Logfile)); err != nil || !strings.Contains(string(b), "posted ") {
		t.Errorf("hook log: %v\n%s", err, b)
	}

	// A server that refuses the post fails the hook: exit code 3.
	status.Store(http.StatusNotFound)
	r = taskhost(t, "run", path)
	<-posts
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	f = r.results(t)
	if h := f.Report.Hooks[0]; h.Result.Value != result.Failed || !strings.Contains(h.Result.Reason, "404 Not Found: no such channel") {
		t.Errorf("hook record: %s: %s", h.Result.Value, h.Result.Reason)
	}
}

// A hook block naming a hook the pack does not serve is a jobfile error.
func TestHookUnknown(t *testing.T) {
	path := hookJob(t, `
job "hooks" {}
hook "x" {
  pack = "hookpack"
  hook = "recrod"
  args = { file = "/dev/null" }
}
`)
	r := taskhost(t, "run", path)
	if r.code != 2 || !strings.Contains(r.stderr, `Pack "hookpack" has no hook "recrod". Did you mean "record"?`) || !strings.Contains(r.stderr, "job.hcl:8:10") {
		t.Errorf("exit %d\nstderr:\n%s", r.code, r.stderr)
	}
}

// A hook whose pack cannot start fails at pre_job, which blocks the job.
func TestHookPackMissing(t *testing.T) {
	path := hookJob(t, `
job "hooks" {}
pack "gone" { path = "/nonexistent/pack" }
task "t1" {
  pack = "hookpack"
  task = "pass"
}
hook "broken" {
  pack = "gone"
  hook = "whatever"
}
`)
	r := taskhost(t, "run", path)
	if r.code != 3 {
		t.Fatalf("exit %d, want 3\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	if tr := taskByID(t, f, "t1"); tr.Result.Value != result.Blocked || !strings.Contains(tr.Result.Reason, "hook broken cannot run") {
		t.Errorf("t1: %s (%s)", tr.Result.Value, tr.Result.Reason)
	}
	failed := failedHooks(f)
	if len(failed) != 1 || !strings.Contains(failed[0], "broken pre_job  errored: pack cannot run: pack binary /nonexistent/pack does not exist") {
		t.Errorf("failed hook calls: %q", failed)
	}
}
