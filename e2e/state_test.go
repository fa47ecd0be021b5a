package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskhost/taskhost/sdk/result"
)

// TestCounterWithDrops: 8 tasks each add 1,000 to one counter at the same
// time while the state server drops every connection after every 500th
// request, before answering it: exactly 8,000.
func TestCounterWithDrops(t *testing.T) {
	t.Parallel()
	var body strings.Builder
	body.WriteString("job \"counter\" { max_parallel = 8 }\nstate {\n  counter = 0\n}\n")
	for i := range 8 {
		fmt.Fprintf(&body, "task \"c%d\" {\n  pack = \"testpack\"\n  task = \"count\"\n  args = { key = \"counter\", n = 1000 }\n}\n", i)
	}
	r := taskhost(t, "run", "--test-fault-drop-every", "500", job(t, body.String()))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	if got := string(f.Report.State["counter"]); got != "8000" {
		t.Errorf("counter = %s, want 8000", got)
	}
	jobLog, _ := os.ReadFile(filepath.Join(r.runDir(t), "job.log"))
	// 8,000 additions and a few other requests: 16 drops, each losing the
	// answer to an addition that applied.
	if n := strings.Count(string(jobLog), "dropping every state connection"); n < 16 {
		t.Errorf("the state server dropped the connections %d times; want 16", n)
	}
}

// TestLockExcludes: 4 tasks take one lock 50 times each; no two holdings
// overlap.
func TestLockExcludes(t *testing.T) {
	t.Parallel()
	var body strings.Builder
	body.WriteString("job \"locks\" { max_parallel = 4 }\n")
	for i := range 4 {
		fmt.Fprintf(&body, "task \"l%d\" {\n  pack = \"testpack\"\n  task = \"lockloop\"\n  args = { name = \"shared\", n = 50 }\n}\n", i)
	}
	r := taskhost(t, "run", job(t, body.String()))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	type span struct {
		task        string
		start, stop int64
	}
	var spans []span
	for _, task := range r.results(t).Report.Tasks {
		var s [][2]int64
		if err := json.Unmarshal(task.Sections[0].Result.Data, &s); err != nil || len(s) != 50 {
			t.Fatalf("%s: %d holdings (%v), want 50", task.ID, len(s), err)
		}
		for _, x := range s {
			spans = append(spans, span{task.ID, x[0], x[1]})
		}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].stop {
			t.Errorf("holdings overlap: %s %d..%d and %s %d..%d", spans[i-1].task, spans[i-1].start, spans[i-1].stop,
				spans[i].task, spans[i].start, spans[i].stop)
		}
	}
}

// TestLockOfKilledHolder: the task holding a lock is killed; the waiting
// task gets the lock after that, within the lease time (2 s here, with a
// margin for a loaded machine).
func TestLockOfKilledHolder(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "holder.pid")
	runs := filepath.Join(t.TempDir(), "runs")
	path := job(t, `
job "killed" { max_parallel = 2 }
task "holder" {
  pack = "testpack"
  task = "lockhold"
  args = { name = "l", lease = "2s", pid_file = "`+pidFile+`" }
}
task "waiter" {
  pack = "testpack"
  task = "lockwait"
  args = { name = "l", lease = "2s" }
}
`)
	host := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path)
	out := &syncBuffer{}
	host.Stdout, host.Stderr = out, out
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(60 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
			pid, _ = strconv.Atoi(string(b))
		}
		if time.Now().After(deadline) {
			host.Process.Kill()
			t.Fatalf("the holder never took the lock\n%s", out)
		}
	}
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := host.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("taskhost: %v, want exit 1 (the killed holder is Errored)\n%s", err, out)
	}
	r := runResult{runsDir: runs}
	f := r.results(t)
	holder, waiter := taskByID(t, f, "holder"), taskByID(t, f, "waiter")
	if holder.Result.Value != result.Errored || !strings.Contains(holder.Result.Reason, "SIGKILL") {
		t.Errorf("holder: %s %q", holder.Result.Value, holder.Result.Reason)
	}
	if waiter.Result.Value != result.Passed || len(waiter.Sections) != 2 {
		t.Fatalf("waiter: %s %+v", waiter.Result.Value, waiter.Sections)
	}
	var d struct{ Acquired int64 }
	if err := json.Unmarshal(waiter.Sections[1].Result.Data, &d); err != nil {
		t.Fatal(err)
	}
	acquired := time.Unix(0, d.Acquired)
	if acquired.Before(killed) {
		t.Errorf("the waiter took the lock at %v, before its holder was killed at %v", acquired, killed)
	}
	// The lease is 2 s; allow the system a generous margin on top.
	if wait := acquired.Sub(killed); wait > 2*time.Second+3*time.Second {
		t.Errorf("the waiter took the lock %v after the holder died; the lease is 2s", wait)
	}
}

// TestBarrier: 5 tasks arrive at a barrier at different times; none
// leaves before the last has arrived.
func TestBarrier(t *testing.T) {
	t.Parallel()
	var body strings.Builder
	body.WriteString("job \"barrier\" { max_parallel = 5 }\n")
	for i := range 5 {
		fmt.Fprintf(&body, "task \"b%d\" {\n  pack = \"testpack\"\n  task = \"barrier\"\n  args = { name = \"start\", n = 5, delay = \"%dms\" }\n}\n", i, i*150)
	}
	r := taskhost(t, "run", job(t, body.String()))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var lastArrive, firstLeave int64
	for _, task := range r.results(t).Report.Tasks {
		var d struct{ Arrive, Leave int64 }
		if err := json.Unmarshal(task.Sections[0].Result.Data, &d); err != nil {
			t.Fatal(err)
		}
		lastArrive = max(lastArrive, d.Arrive)
		if firstLeave == 0 || d.Leave < firstLeave {
			firstLeave = d.Leave
		}
	}
	if firstLeave < lastArrive {
		t.Errorf("a task left the barrier %v before the last one arrived", time.Duration(lastArrive-firstLeave))
	}
}

// TestBarrierWrongN: two participants give the barrier different sizes.
func TestBarrierWrongN(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "barrier_n" { max_parallel = 2 }
task "a" {
  pack    = "testpack"
  task    = "barrier"
  args    = { name = "b", n = 2 }
  timeout = "5s"
}
task "b" {
  pack = "testpack"
  task = "barrier"
  args = { name = "b", n = 3, delay = "300ms" }
}
`))
	f := r.results(t)
	b := taskByID(t, f, "b")
	if b.Result.Value != result.Errored || !strings.Contains(b.Result.Reason, "barrier b is for 2 participants; this one says 3") {
		t.Errorf("b: %s %q", b.Result.Value, b.Result.Reason)
	}
}

// TestWatchSeesEveryUpdate: a watcher sees each of 1,000 updates, in
// order, once, while the state server drops every connection after every
// 100th request, before its answer (a put resent after a drop must not
// show twice).
func TestWatchSeesEveryUpdate(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", "--test-fault-drop-every", "100", job(t, `
job "watch" { max_parallel = 2 }
task "watcher" {
  pack = "testpack"
  task = "watcher"
  args = { n = 1000 }
}
task "writer" {
  pack = "testpack"
  task = "writer"
  args = { n = 1000 }
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := string(r.results(t).Report.State["w.x"]); got != "1000" {
		t.Errorf("w.x = %s, want 1000", got)
	}
	jobLog, _ := os.ReadFile(filepath.Join(r.runDir(t), "job.log"))
	if n := strings.Count(string(jobLog), "dropping every state connection"); n < 10 {
		t.Errorf("the state server dropped the connections %d times; want 10", n)
	}
}

// TestRunsDoNotShareState: two runs of one jobfile at the same time each
// see only their own keys.
func TestRunsDoNotShareState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mk := func(name, peer string) string {
		return job(t, `
job "iso" {}
task "t" {
  pack = "testpack"
  task = "isolated"
  args = { dir = "`+dir+`", name = "`+name+`", peer = "`+peer+`" }
}
`)
	}
	var wg sync.WaitGroup
	var ra, rb runResult
	wg.Add(2)
	go func() { defer wg.Done(); ra = taskhost(t, "run", mk("a", "b")) }()
	go func() { defer wg.Done(); rb = taskhost(t, "run", mk("b", "a")) }()
	wg.Wait()
	for _, r := range []runResult{ra, rb} {
		if r.code != 0 {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		f := r.results(t)
		task := taskByID(t, f, "t")
		var d struct {
			Keys []string
			PID  int
		}
		if err := json.Unmarshal(task.Sections[0].Result.Data, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Keys) != 1 || d.Keys[0] != "owner" {
			t.Errorf("a run sees keys %v, want only its own [owner]", d.Keys)
		}
		if got := string(f.Report.State["owner"]); got != strconv.Itoa(d.PID) {
			t.Errorf("final owner %s, want this run's task pid %d", got, d.PID)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a process's stdout and stderr.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStateAPI: each State method's answer, and each misuse's error.
func TestStateAPI(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "api" {}
task "api" {
  pack = "testpack"
  task = "stateapi"
}
`))
	task := taskByID(t, r.results(t), "api")
	for _, s := range task.Sections {
		if s.Result.Value != result.Passed {
			t.Errorf("step %s: %s %s (error was %s)", s.Name, s.Result.Value, s.Result.Reason, s.Result.Data)
		}
	}
	if len(task.Sections) < 18 {
		t.Errorf("only %d steps ran", len(task.Sections))
	}
}
