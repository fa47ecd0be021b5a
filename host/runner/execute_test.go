package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/internal/packtest"
	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/result"
)

// calls records the hook calls of one run, in order.
type calls struct {
	mu   sync.Mutex
	list []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, s)
}

// GateArgs are the gate hook's arguments: it fails at one stage, around
// one task if it is a task's stage.
type GateArgs struct {
	Label    string `doc:"the first word of the call's record"`
	FailAt   string `doc:"the stage to fail at"`
	FailTask string `doc:"the task to fail around"`
}

// execPack is the pack of the execution tests, served in-process: tasks
// that pass, fail, pass on their second attempt, stop when told, or never
// stop; a hook that records its calls in c and fails where told, and one
// that waits until told to stop.
func execPack(t *testing.T, c *calls) *sdk.Set {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	var flaky atomic.Int32
	s := sdk.NewSet("p", "1.0.0")
	sdk.Register(s, "pass", "Passes.", func(t *sdk.T, _ sdk.NoArgs) { t.Step("ok", func(t *sdk.T) {}) })
	sdk.Register(s, "fail", "Fails.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("check", func(t *sdk.T) { t.Failf("told to fail") })
	})
	sdk.Register(s, "flaky", "Fails its first attempt, passes the next.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("check", func(t *sdk.T) {
			if flaky.Add(1) == 1 {
				t.Failf("first attempt")
			}
		})
	})
	sdk.Register(s, "wait", "Waits until told to stop.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("wait", func(t *sdk.T) { <-t.Context().Done() })
	})
	sdk.Register(s, "hang", "Never stops by itself.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("hang", func(t *sdk.T) { <-hang })
	})
	sdk.RegisterHook(s, "gate", "Records its call; fails at fail_at.", sdk.Stages, func(t *sdk.T, h *sdk.Hook, a GateArgs) {
		c.add(fmt.Sprintf("%s %s %s", a.Label, h.Stage, h.Task))
		if string(h.Stage) == a.FailAt && (a.FailTask == "" || a.FailTask == h.Task) {
			t.Failf("told to fail")
		}
	})
	sdk.RegisterHook(s, "slow", "Waits until told to stop.", []sdk.Stage{sdk.PreJob}, func(t *sdk.T, _ *sdk.Hook, _ sdk.NoArgs) {
		<-t.Context().Done()
	})
	return s
}

// testPlan plans the job of src, whose packs are served in-process.
func testPlan(t *testing.T, src string, packs map[string]*sdk.Set) *plan.Plan {
	t.Helper()
	job, diags := jobfile.LoadSource("job.hcl", []byte(src), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := plan.Check(job, describeAll(t, packs, packtest.Describe), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	return p
}

func describeAll[D any](t *testing.T, packs map[string]*sdk.Set, describe func(testing.TB, *sdk.Set) D) map[string]D {
	out := map[string]D{}
	for name, set := range packs {
		out[name] = describe(t, set)
	}
	return out
}

// TestExecute: a run's tasks and hooks, each run in a pack served
// in-process: retries and Passx, timeouts and grace, Blocked by a
// dependency or a hook, and the order and results of the hooks.
func TestExecute(t *testing.T) {
	t.Parallel()
	const packBlock = `pack "p" { path = "/nonexistent/p" }` + "\n"
	type want struct {
		// Tasks are "RESULT (reason)" by task id; Attempts the results of
		// each attempt of a task that ran more than once.
		Tasks    map[string]string
		Attempts map[string][]result.Result
		// Hooks are "name stage task result" of each hook call, in the
		// record's order.
		Hooks []string
	}
	for name, tc := range map[string]struct {
		job   string
		want  want
		calls []string // the gate hooks' calls, in order
		log   map[string]string
	}{
		"passes on a retry: Passx": {
			job: `job "j" {}
task "a" {
  pack    = "p"
  task    = "flaky"
  retries = 2
}`,
			want: want{
				Tasks:    map[string]string{"a": "passx (passed on attempt 2 of 3)"},
				Attempts: map[string][]result.Result{"a": {result.Failed, result.Passed}},
			},
		},
		"fails every attempt": {
			job: `job "j" {}
task "a" {
  pack    = "p"
  task    = "fail"
  retries = 1
}`,
			want: want{
				Tasks:    map[string]string{"a": "failed (1 check: told to fail)"},
				Attempts: map[string][]result.Result{"a": {result.Failed, result.Failed}},
			},
		},
		"its timeout aborts a task, which returns within its grace": {
			job: `job "j" {}
task "a" {
  pack    = "p"
  task    = "wait"
  timeout = "200ms"
}`,
			want: want{Tasks: map[string]string{"a": "aborted (timed out after 200ms)"}},
		},
		"a task that does not stop is killed after its grace": {
			job: `job "j" {}
task "a" {
  pack    = "p"
  task    = "hang"
  timeout = "200ms"
  grace   = "100ms"
}`,
			want: want{Tasks: map[string]string{"a": "aborted (timed out after 200ms)"}},
			log:  map[string]string{"a": "the task did not return within the grace period; killing its process group"},
		},
		"a task whose dependency failed is Blocked": {
			job: `job "j" {}
task "a" {
  pack = "p"
  task = "fail"
}
task "b" {
  pack       = "p"
  task       = "pass"
  depends_on = [task.a]
}`,
			want: want{Tasks: map[string]string{"a": "failed (1 check: told to fail)", "b": "blocked (dependency a ended Failed)"}},
		},
		"a pre_task hook that fails blocks its task; post hooks run in reverse order": {
			job: `job "j" { max_parallel = 1 }
task "a" {
  pack = "p"
  task = "pass"
}
task "b" {
  pack       = "p"
  task       = "pass"
  depends_on = [task.a]
}
hook "first" {
  pack  = "p"
  hook  = "gate"
  order = 1
  args  = { label = "first", fail_at = "pre_task", fail_task = "a" }
}
hook "second" {
  pack  = "p"
  hook  = "gate"
  order = 2
  args  = { label = "second" }
}`,
			want: want{
				Tasks: map[string]string{"a": "blocked (pre_task hook first failed: told to fail)", "b": "blocked (dependency a ended Blocked)"},
				Hooks: []string{"first pre_job  passed", "second pre_job  passed", "first pre_task a failed",
					"second post_task a passed", "first post_task a passed", "second post_job  passed", "first post_job  passed"},
			},
			calls: []string{"first pre_job ", "second pre_job ", "first pre_task a", "second post_task a", "first post_task a",
				"second post_job ", "first post_job "},
		},
		"a pre_job hook stopped by its timeout blocks every task": {
			job: `job "j" {}
task "a" {
  pack = "p"
  task = "pass"
}
hook "slow" {
  pack    = "p"
  hook    = "slow"
  timeout = "200ms"
}`,
			want: want{
				Tasks: map[string]string{"a": "blocked (pre_job hook slow aborted: timed out after 200ms)"},
				Hooks: []string{"slow pre_job  aborted"},
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var c calls
			plan := testPlan(t, packBlock+tc.job, map[string]*sdk.Set{"p": execPack(t, &c)})
			starter := packtest.Starter{T: t, Packs: map[string]*sdk.Set{"p": execPack(t, &c)}}
			f, err := execute(context.Background(), plan, Options{RunsDir: t.TempDir(), Grace: time.Minute}, starter)
			if err != nil {
				t.Fatal(err)
			}
			got := want{Tasks: map[string]string{}}
			for _, rec := range f.Report.Tasks {
				s := rec.Result.Value.String()
				if rec.Result.Reason != "" {
					s += " (" + rec.Result.Reason + ")"
				}
				got.Tasks[rec.ID] = s
				if len(rec.Attempts) > 0 {
					if got.Attempts == nil {
						got.Attempts = map[string][]result.Result{}
					}
					for _, a := range rec.Attempts {
						got.Attempts[rec.ID] = append(got.Attempts[rec.ID], a.Result.Value)
					}
				}
			}
			for _, h := range f.Report.Hooks {
				got.Hooks = append(got.Hooks, fmt.Sprintf("%s %s %s %s", h.Name, h.Stage, h.Task, h.Result.Value))
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("run (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.calls, c.list); d != "" {
				t.Errorf("gate hook calls (-want +got):\n%s", d)
			}
			for id, line := range tc.log {
				b, err := os.ReadFile(filepath.Join(f.Report.RunDir, "tasks", id, "task.log"))
				if err != nil || !strings.Contains(string(b), line) {
					t.Errorf("task %s's log lacks %q (%v):\n%s", id, line, err, b)
				}
			}
		})
	}
}
