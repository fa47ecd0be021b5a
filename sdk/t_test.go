package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/logfile"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
	"github.com/taskhost/taskhost/sdk/result"
)

// ran is the outcome of one runTask.
type ran struct {
	result Result
	reason string
	tree   *report.Tree
	log    string
}

// runIt runs fn as task "x" with a memory emitter and a logger into a buffer.
func runIt(t *testing.T, ctx context.Context, fn func(t *T)) ran {
	t.Helper()
	var buf bytes.Buffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})
	em := emit.NewMem()
	rs := &taskenv.Env{TaskID: "x", Emit: em, PID: 1}
	r, reason := runTask(ctx, rs, logger, fn)
	if !em.Tree.Ended {
		t.Error("runTask did not emit the task's end event")
	}
	if em.Tree.Pending() != 0 {
		t.Errorf("%d events wait for an earlier one", em.Tree.Pending())
	}
	return ran{result: r, reason: reason, tree: em.Tree, log: buf.String()}
}

// tnode is a Node reduced to what these tests check.
type tnode struct {
	ID     string
	Name   string
	Type   string
	Result Result
	Reason string
	Data   string
	Kids   []tnode
}

func simplify(ns []*report.Node) []tnode {
	var out []tnode
	for _, n := range ns {
		out = append(out, tnode{
			ID: n.ID, Name: n.Name, Type: n.Type, Result: n.Result.Value,
			Reason: n.Result.Reason, Data: string(n.Result.Data), Kids: simplify(n.Sections),
		})
	}
	return out
}

const (
	sec  = report.TypeSection
	step = report.TypeStep
)

func TestStepsNest(t *testing.T) {
	t.Parallel()
	got := runIt(t, context.Background(), func(t *T) {
		t.Section("setup", func(t *T) {
			t.Step("a", func(t *T) {
				t.Step("b", func(t *T) {
					t.Step("c", func(t *T) {
						t.Step("d", func(t *T) {})
					})
					t.Step("c2", func(t *T) {})
				})
			})
			t.Step("a2", func(t *T) {})
		})
		t.Section("test", func(t *T) {
			t.Step("e", func(t *T) {})
		})
		t.Step("top", func(t *T) {})
	})
	want := []tnode{
		{ID: "1", Name: "setup", Type: sec, Result: Passed, Kids: []tnode{
			{ID: "1.1", Name: "a", Type: step, Result: Passed, Kids: []tnode{
				{ID: "1.1.1", Name: "b", Type: step, Result: Passed, Kids: []tnode{
					{ID: "1.1.1.1", Name: "c", Type: step, Result: Passed, Kids: []tnode{
						{ID: "1.1.1.1.1", Name: "d", Type: step, Result: Passed},
					}},
					{ID: "1.1.1.2", Name: "c2", Type: step, Result: Passed},
				}},
			}},
			{ID: "1.2", Name: "a2", Type: step, Result: Passed},
		}},
		{ID: "2", Name: "test", Type: sec, Result: Passed, Kids: []tnode{
			{ID: "2.1", Name: "e", Type: step, Result: Passed},
		}},
		{ID: "3", Name: "top", Type: step, Result: Passed},
	}
	if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if got.result != Passed || got.reason != "" {
		t.Errorf("runTask = %v %q, want passed \"\"", got.result, got.reason)
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	var names []string
	runIt(t, context.Background(), func(t *T) {
		names = append(names, t.TaskID(), t.Name())
		t.Section("sec", func(t *T) {
			names = append(names, t.TaskID(), t.Name())
			t.Step("st", func(t *T) { names = append(names, t.Name()) })
		})
	})
	if diff := cmp.Diff([]string{"x", "x", "x", "sec", "st"}, names); diff != "" {
		t.Errorf("TaskID/Name (-want +got):\n%s", diff)
	}
}

func TestFailfEndsStepAndParent(t *testing.T) {
	t.Parallel()
	var afterFail, sibling, afterStep atomic.Bool
	got := runIt(t, context.Background(), func(t *T) {
		t.Section("s", func(t *T) {
			t.Step("bad", func(t *T) {
				t.Failf("got %d, want %d", 1, 2)
				afterFail.Store(true)
			})
			afterStep.Store(true)
			t.Step("never", func(t *T) { sibling.Store(true) })
		})
	})
	if afterFail.Load() {
		t.Error("code after Failf ran")
	}
	if afterStep.Load() {
		t.Error("the parent went on after its step failed without Continue")
	}
	if sibling.Load() {
		t.Error("the sibling step ran")
	}
	want := []tnode{{ID: "1", Name: "s", Type: sec, Result: Failed, Kids: []tnode{
		{ID: "1.1", Name: "bad", Type: step, Result: Failed, Reason: "got 1, want 2"},
	}}}
	if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if got.result != Failed {
		t.Errorf("task result = %v, want failed", got.result)
	}
}

func TestFailedSectionStopsTask(t *testing.T) {
	t.Parallel()
	var second atomic.Bool
	got := runIt(t, context.Background(), func(t *T) {
		t.Section("setup", func(t *T) { t.Step("x", func(t *T) { t.Errorf("no device") }) })
		t.Section("test", func(t *T) { second.Store(true) })
	})
	if second.Load() {
		t.Error("the second section ran after the first errored without Continue")
	}
	if n := len(got.tree.Sections); n != 1 {
		t.Errorf("%d top-level sections, want 1", n)
	}
	if got.result != Errored {
		t.Errorf("task result = %v, want errored", got.result)
	}
}

func TestContinue(t *testing.T) {
	t.Parallel()
	var afterStep, sibling atomic.Bool
	var returned Result
	got := runIt(t, context.Background(), func(t *T) {
		t.Section("s", func(t *T) {
			returned = t.Step("bad", func(t *T) { t.Failf("nope") }, Continue)
			afterStep.Store(true)
			t.Step("next", func(t *T) { sibling.Store(true) })
		})
	})
	if !afterStep.Load() || !sibling.Load() {
		t.Errorf("with Continue: parent went on = %v, sibling ran = %v; want both", afterStep.Load(), sibling.Load())
	}
	if returned != Failed {
		t.Errorf("Step returned %v, want failed", returned)
	}
	want := []tnode{{ID: "1", Name: "s", Type: sec, Result: Failed, Kids: []tnode{
		{ID: "1.1", Name: "bad", Type: step, Result: Failed, Reason: "nope"},
		{ID: "1.2", Name: "next", Type: step, Result: Passed},
	}}}
	if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if got.result != Failed {
		t.Errorf("task result = %v, want failed", got.result)
	}
}

func TestSuccessfulEndsDoNotStopParent(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fn      func(t *T)
		want    Result // the step's
		section Result // the section's, with a passing sibling
	}{
		"skip":  {fn: func(t *T) { t.Skip("not here") }, want: Skipped, section: Passed},
		"passx": {fn: func(t *T) { t.Passx("flaky but ok") }, want: Passx, section: Passx},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var after, sibling, afterEnd atomic.Bool
			var returned Result
			got := runIt(t, context.Background(), func(t *T) {
				t.Section("s", func(t *T) {
					returned = t.Step("first", func(t *T) {
						tc.fn(t)
						afterEnd.Store(true)
					})
					after.Store(true)
					t.Step("second", func(t *T) { sibling.Store(true) })
				})
			})
			if afterEnd.Load() {
				t.Error("code after the call in the step ran; it must end the step")
			}
			if !after.Load() || !sibling.Load() {
				t.Errorf("parent went on = %v, sibling ran = %v; want both", after.Load(), sibling.Load())
			}
			if returned != tc.want {
				t.Errorf("Step returned %v, want %v", returned, tc.want)
			}
			secs := simplify(got.tree.Sections)
			if len(secs) != 1 || len(secs[0].Kids) != 2 {
				t.Fatalf("tree = %+v, want one section with two steps", secs)
			}
			if secs[0].Kids[0].Result != tc.want || secs[0].Result != tc.section || got.result != tc.section {
				t.Errorf("step %v, section %v, task %v; want %v, %v, %v",
					secs[0].Kids[0].Result, secs[0].Result, got.result, tc.want, tc.section, tc.section)
			}
		})
	}
}

func TestEndCalls(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fn         func(t *T)
		want       Result
		wantReason string
	}{
		"failf":  {fn: func(t *T) { t.Failf("%s is %d", "x", 3) }, want: Failed, wantReason: "x is 3"},
		"errorf": {fn: func(t *T) { t.Errorf("open %s: %v", "f", errors.New("denied")) }, want: Errored, wantReason: "open f: denied"},
		"block":  {fn: func(t *T) { t.Block("needs a router") }, want: Blocked, wantReason: "needs a router"},
		"abort":  {fn: func(t *T) { t.Abort("operator said stop") }, want: Aborted, wantReason: "operator said stop"},
		"skip":   {fn: func(t *T) { t.Skip("not applicable") }, want: Skipped, wantReason: "not applicable"},
		"passx":  {fn: func(t *T) { t.Passx("known issue") }, want: Passx, wantReason: "known issue"},
		"none":   {fn: func(t *T) {}, want: Passed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var returned, inStep Result
			got := runIt(t, context.Background(), func(t *T) {
				returned = t.Step("s", func(t *T) {
					defer func() { inStep = t.Result() }() // deferred calls still run
					tc.fn(t)
				}, Continue)
			})
			want := []tnode{{ID: "1", Name: "s", Type: step, Result: tc.want, Reason: tc.wantReason}}
			if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if returned != tc.want {
				t.Errorf("Step returned %v, want %v", returned, tc.want)
			}
			if inStep != tc.want {
				t.Errorf("t.Result() in the step's defer = %v, want %v", inStep, tc.want)
			}
			if got.result != tc.want {
				t.Errorf("task result = %v, want %v", got.result, tc.want)
			}
			if tc.wantReason != "" && !strings.Contains(got.log, tc.wantReason) {
				t.Errorf("log does not hold the reason %q:\n%s", tc.wantReason, got.log)
			}
		})
	}
}

func TestTaskLevelEnd(t *testing.T) {
	t.Parallel()
	var after atomic.Bool
	got := runIt(t, context.Background(), func(t *T) {
		t.Step("ok", func(t *T) {})
		t.Failf("top-level check failed")
		after.Store(true)
	})
	if after.Load() {
		t.Error("code after a top-level Failf ran")
	}
	if got.result != Failed || got.reason != "top-level check failed" {
		t.Errorf("runTask = %v %q, want failed \"top-level check failed\"", got.result, got.reason)
	}
	if diff := cmp.Diff(report.Outcome{Value: Failed, Reason: "top-level check failed"}, got.tree.Own); diff != "" {
		t.Errorf("Own (-want +got):\n%s", diff)
	}
}

func TestSetData(t *testing.T) {
	t.Parallel()
	got := runIt(t, context.Background(), func(t *T) {
		t.Step("one", func(t *T) {
			t.SetData(map[string]any{"rx": 10, "ok": true})
		})
		t.Step("replaced", func(t *T) {
			t.SetData("first")
			t.SetData([]int{1, 2})
		})
		t.Step("from a goroutine", func(t *T) {
			done := make(chan struct{})
			go func() { t.SetData(struct{ N int }{7}); close(done) }()
			<-done
		})
		t.Step("not json", func(t *T) {
			t.SetData("kept")
			t.SetData(make(chan int)) // dropped
		})
		t.Step("failed with data", func(t *T) {
			t.SetData(map[string]int{"lost": 3})
			t.Failf("lost packets")
		}, Continue)
		t.SetData(map[string]string{"task": "level"})
	})
	want := []tnode{
		{ID: "1", Name: "one", Type: step, Result: Passed, Data: `{"ok":true,"rx":10}`},
		{ID: "2", Name: "replaced", Type: step, Result: Passed, Data: `[1,2]`},
		{ID: "3", Name: "from a goroutine", Type: step, Result: Passed, Data: `{"N":7}`},
		{ID: "4", Name: "not json", Type: step, Result: Passed, Data: `"kept"`},
		{ID: "5", Name: "failed with data", Type: step, Result: Failed, Reason: "lost packets", Data: `{"lost":3}`},
	}
	if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if got := string(got.tree.Own.Data); got != `{"task":"level"}` {
		t.Errorf("task data = %s, want {\"task\":\"level\"}", got)
	}
	if !strings.Contains(got.log, "does not encode as JSON") {
		t.Errorf("log does not say the data was dropped:\n%s", got.log)
	}
}

//go:noinline
func panickyStepHelper() {
	var m map[string]int
	m["boom"] = 1 // assignment to entry in nil map
}

func TestPanicInStep(t *testing.T) {
	t.Parallel()
	var sibling atomic.Bool
	got := runIt(t, context.Background(), func(t *T) {
		t.Section("s", func(t *T) {
			t.Step("panics", func(t *T) { panickyStepHelper() })
			t.Step("next", func(t *T) { sibling.Store(true) })
		})
	})
	secs := simplify(got.tree.Sections)
	if len(secs) != 1 || len(secs[0].Kids) != 1 {
		t.Fatalf("tree = %+v, want one section with one step", secs)
	}
	st := secs[0].Kids[0]
	if st.Result != Errored {
		t.Errorf("step result = %v, want errored", st.Result)
	}
	if !strings.HasPrefix(st.Reason, "panic:") || !strings.Contains(st.Reason, "nil map") {
		t.Errorf("step reason = %q, want \"panic: ...nil map...\"", st.Reason)
	}
	if secs[0].Result != Errored || got.result != Errored {
		t.Errorf("section %v, task %v; want errored, errored", secs[0].Result, got.result)
	}
	if sibling.Load() {
		t.Error("a sibling ran after a step panicked (Errored stops the section)")
	}
	if !strings.Contains(got.log, "panickyStepHelper") {
		t.Errorf("the log does not hold the stack of the panic:\n%s", got.log)
	}
}

func TestPanicAtTopLevel(t *testing.T) {
	t.Parallel()
	got := runIt(t, context.Background(), func(t *T) {
		t.Step("fine", func(t *T) {})
		panic(fmt.Sprintf("top %d", 1))
	})
	if got.result != Errored {
		t.Errorf("task result = %v, want errored", got.result)
	}
	if got.reason != "panic: top 1" {
		t.Errorf("task reason = %q, want \"panic: top 1\"", got.reason)
	}
	if got.tree.Result() != Errored {
		t.Errorf("tree result = %v, want errored", got.tree.Result())
	}
	if !strings.Contains(got.log, "TestPanicAtTopLevel") {
		t.Errorf("the log does not hold the stack of the panic:\n%s", got.log)
	}
}

func TestPanicWithError(t *testing.T) {
	t.Parallel()
	got := runIt(t, context.Background(), func(t *T) {
		t.Step("p", func(t *T) { panic(errors.New("wrapped failure")) }, Continue)
	})
	want := []tnode{{ID: "1", Name: "p", Type: step, Result: Errored, Reason: "panic: wrapped failure"}}
	if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

func TestSectionsDefaultToPassed(t *testing.T) {
	t.Parallel()
	got := runIt(t, context.Background(), func(t *T) {
		t.Section("empty", func(t *T) {})
		t.Section("with a step", func(t *T) { t.Step("s", func(t *T) { t.Log("hello") }) })
	})
	want := []tnode{
		{ID: "1", Name: "empty", Type: sec, Result: Passed},
		{ID: "2", Name: "with a step", Type: sec, Result: Passed, Kids: []tnode{
			{ID: "2.1", Name: "s", Type: step, Result: Passed},
		}},
	}
	if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if got.result != Passed {
		t.Errorf("task result = %v, want passed", got.result)
	}
	if !strings.Contains(got.log, "hello") {
		t.Errorf("t.Log line missing from the log:\n%s", got.log)
	}
}

func TestEmptyTaskPasses(t *testing.T) {
	t.Parallel()
	got := runIt(t, context.Background(), func(t *T) {})
	if got.result != Passed || got.reason != "" {
		t.Errorf("runTask = %v %q, want passed \"\"", got.result, got.reason)
	}
	if diff := cmp.Diff(report.Outcome{Value: Passed}, got.tree.Own); diff != "" {
		t.Errorf("Own (-want +got):\n%s", diff)
	}
}

// setter returns a step function that ends with r (Passed: no call).
func setter(r Result) func(t *T) {
	return func(t *T) {
		switch r {
		case Skipped:
			t.Skip("s")
		case Passx:
			t.Passx("x")
		case Blocked:
			t.Block("b")
		case Failed:
			t.Failf("f")
		case Errored:
			t.Errorf("e")
		case Aborted:
			t.Abort("a")
		}
	}
}

func TestTaskResultIsRollupOfTree(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		steps []Result // each run in its own step, with Continue
		want  Result
	}{
		"skipped": {steps: []Result{Skipped, Skipped}, want: Skipped},
		"passed":  {steps: []Result{Skipped, Passed, Skipped}, want: Passed},
		"passx":   {steps: []Result{Passed, Passx, Skipped}, want: Passx},
		"blocked": {steps: []Result{Passx, Blocked, Passed}, want: Blocked},
		"failed":  {steps: []Result{Blocked, Failed, Passx}, want: Failed},
		"errored": {steps: []Result{Failed, Errored, Blocked}, want: Errored},
		"aborted": {steps: []Result{Errored, Aborted, Failed}, want: Aborted},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := runIt(t, context.Background(), func(t *T) {
				t.Section("s", func(t *T) {
					for i, r := range tc.steps {
						t.Step(fmt.Sprint("step", i), setter(r), Continue)
					}
				}, Continue)
			})
			if got.result != tc.want {
				t.Errorf("task result = %v, want %v", got.result, tc.want)
			}
			if got.tree.Result() != tc.want {
				t.Errorf("tree result = %v, want %v", got.tree.Result(), tc.want)
			}
			if got.tree.Own.Value != tc.want {
				t.Errorf("task end event result = %v, want %v", got.tree.Own.Value, tc.want)
			}
			if n := len(got.tree.Sections[0].Sections); n != len(tc.steps) {
				t.Errorf("%d steps ran, want %d", n, len(tc.steps))
			}
		})
	}
}

func TestCancelledContext(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fn         func(t *T)
		want       Result
		wantReason string
	}{
		"would pass":    {fn: func(t *T) { t.Step("s", func(t *T) {}) }, want: Aborted, wantReason: "stopped: job cancelled"},
		"would passx":   {fn: func(t *T) { t.Step("s", func(t *T) { t.Passx("p") }) }, want: Aborted, wantReason: "stopped: job cancelled"},
		"would skip":    {fn: func(t *T) { t.Skip("nothing to do") }, want: Aborted, wantReason: "stopped: job cancelled"},
		"fails anyway":  {fn: func(t *T) { t.Failf("broken") }, want: Failed, wantReason: "broken"},
		"errors anyway": {fn: func(t *T) { t.Step("s", func(t *T) { t.Errorf("e") }) }, want: Errored},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errors.New("job cancelled"))
			var seen error
			got := runIt(t, ctx, func(t *T) {
				seen = t.Context().Err()
				tc.fn(t)
			})
			if seen == nil {
				t.Error("t.Context() was not the cancelled context")
			}
			if got.result != tc.want || got.reason != tc.wantReason {
				t.Errorf("runTask = %v %q, want %v %q", got.result, got.reason, tc.want, tc.wantReason)
			}
			if diff := cmp.Diff(report.Outcome{Value: tc.want, Reason: tc.wantReason}, got.tree.Own); diff != "" {
				t.Errorf("task end event (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRegister(t *testing.T) {
	t.Parallel()
	type args struct {
		Host string `arg:",required"`
	}
	s := NewSet("p", "1.0.0")
	Register(s, "a", "Does a.", func(t *T, _ args) {})
	Register(s, "b", "Does b.", func(t *T, _ NoArgs) {})

	tests := map[string]struct {
		register func()
		want     string
	}{
		"duplicate name": {
			register: func() { Register(s, "a", "Again.", func(t *T, _ NoArgs) {}) },
			want:     `task "a" registered twice`,
		},
		"int args": {
			register: func() { Register(s, "c", "", func(t *T, _ int) {}) },
			want:     "is not a struct",
		},
		"pointer args": {
			register: func() { Register(s, "d", "", func(t *T, _ *args) {}) },
			want:     "is not a struct",
		},
		"unsupported field": {
			register: func() { Register(s, "e", "", func(t *T, _ struct{ C chan int }) {}) },
			want:     "cannot be an argument",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Not parallel: the cases share s.
			msg := func() (msg string) {
				defer func() { msg = fmt.Sprint(recover()) }()
				tc.register()
				return "<no panic>"
			}()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("Register panic = %q, want it to contain %q", msg, tc.want)
			}
		})
	}
	var names []string
	for _, td := range s.tasks {
		names = append(names, td.name)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
		t.Errorf("tasks after the bad Registers (-want +got):\n%s", diff)
	}
}

func TestRunDefDecodesArgs(t *testing.T) {
	t.Parallel()
	type args struct {
		Host  string `arg:",required"`
		Count int
	}
	var gotArgs args
	var called atomic.Int32
	s := NewSet("p", "1.0.0")
	Register(s, "a", "", func(t *T, a args) { called.Add(1); gotArgs = a })
	td := s.task("a")

	tests := map[string]struct {
		json       string
		want       Result
		wantReason string
		wantCalled bool
	}{
		"good":    {json: `{"host":"r1","count":2}`, want: Passed, wantCalled: true},
		"missing": {json: `{"count":2}`, want: Errored, wantReason: `bad arguments: missing required argument "host"`},
		"unknown": {json: `{"host":"r1","colour":"red"}`, want: Errored, wantReason: `bad arguments: unknown argument "colour" (this task takes host, count)`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Not parallel: the cases share called and gotArgs.
			called.Store(0)
			var buf bytes.Buffer
			em := emit.NewMem()
			r, reason := td.run(context.Background(), []byte(tc.json), &taskenv.Env{TaskID: "x", Emit: em, PID: 1},
				hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace}))
			if r != tc.want || reason != tc.wantReason {
				t.Errorf("run = %v %q, want %v %q", r, reason, tc.want, tc.wantReason)
			}
			if (called.Load() == 1) != tc.wantCalled {
				t.Errorf("task called %d times, want called = %v", called.Load(), tc.wantCalled)
			}
			if tc.wantCalled {
				if diff := cmp.Diff(args{Host: "r1", Count: 2}, gotArgs); diff != "" {
					t.Errorf("args (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// The rollup the SDK computes must match the rollup the result package
// defines; spot-check that T.Result uses it for children.
func TestTResultRollsUpChildren(t *testing.T) {
	t.Parallel()
	var mid, end Result
	runIt(t, context.Background(), func(t *T) {
		t.Step("a", func(t *T) {}, Continue)
		t.Step("b", func(t *T) { t.Skip("s") }, Continue)
		mid = t.Result()
		t.Step("c", func(t *T) { t.Block("b") }, Continue)
		t.Step("d", func(t *T) { t.Passx("p") }, Continue)
		end = t.Result()
	})
	if mid != result.Passed || end != result.Blocked {
		t.Errorf("t.Result() = %v then %v, want passed then blocked", mid, end)
	}
}

// When a step's result is set more than once (a deferred call after the
// first), the result is the worst and its reason goes with it.
func TestWorstResultKeepsItsReason(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		fn         func(t *T)
		want       Result
		wantReason string
	}{
		"less severe later": {
			fn: func(t *T) {
				defer t.Skip("cleanup skipped")
				t.Failf("the real failure")
			},
			want: Failed, wantReason: "the real failure",
		},
		"more severe later": {
			fn: func(t *T) {
				defer t.Abort("gave up")
				t.Failf("first failure")
			},
			want: Aborted, wantReason: "gave up",
		},
		"panic after passx": {
			fn: func(t *T) {
				defer func() { panic("in defer") }()
				t.Passx("almost")
			},
			want: Errored, wantReason: "panic: in defer",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := runIt(t, context.Background(), func(t *T) {
				t.Step("s", tc.fn, Continue)
			})
			want := []tnode{{ID: "1", Name: "s", Type: step, Result: tc.want, Reason: tc.wantReason}}
			if diff := cmp.Diff(want, simplify(got.tree.Sections)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecoverDoesNotKeepAStepGoing: a step ends with runtime.Goexit, as
// t.FailNow ends a test, so a recover() in the step's function cannot
// swallow the end and go on; nor can one around a step that did not pass,
// in the step that started it. Deferred calls still run.
func TestRecoverDoesNotKeepAStepGoing(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		end  func(t *T)
		want Result
	}{
		"Failf":  {func(t *T) { t.Failf("no") }, Failed},
		"Errorf": {func(t *T) { t.Errorf("no") }, Errored},
		"Skip":   {func(t *T) { t.Skip("no") }, Skipped},
		"Block":  {func(t *T) { t.Block("no") }, Blocked},
		"Abort":  {func(t *T) { t.Abort("no") }, Aborted},
		"Passx":  {func(t *T) { t.Passx("no") }, Passx},
	} {
		t.Run(name, func(tt *testing.T) {
			tt.Parallel()
			var after, deferred, parentAfter atomic.Bool
			var recovered atomic.Value
			got := runIt(tt, context.Background(), func(t *T) {
				t.Step("outer", func(t *T) {
					func() {
						defer func() { recovered.Store(fmt.Sprint(recover())) }()
						t.Step("ends", func(t *T) {
							defer deferred.Store(true)
							func() {
								defer func() { recover() }()
								tc.end(t)
							}()
							after.Store(true)
						})
					}()
					parentAfter.Store(true)
				})
			})
			if after.Load() {
				tt.Errorf("the step went on after a recover()")
			}
			if !deferred.Load() {
				tt.Errorf("the step's deferred call did not run")
			}
			want := []tnode{{ID: "1", Name: "outer", Type: step, Result: tc.want, Kids: []tnode{
				{ID: "1.1", Name: "ends", Type: step, Result: tc.want, Reason: "no"},
			}}}
			if d := cmp.Diff(want, simplify(got.tree.Sections)); d != "" {
				tt.Errorf("tree (-want +got):\n%s", d)
			}
			// A step that does not pass ends the step that started it, even
			// through a recover() there; one that passes does not.
			if tc.want.Success() {
				if !parentAfter.Load() || recovered.Load() != "<nil>" {
					tt.Errorf("the outer step did not go on after a step that passed (recovered %v)", recovered.Load())
				}
			} else if parentAfter.Load() {
				tt.Errorf("the outer step went on after a step that did not pass, through a recover()")
			}
		})
	}
}

// TestLogLinesLost: lines of a step's log that cannot be written (a full
// disk: /dev/full) make the step's record Errored with the reason, and
// the task's; the task goes on with its next steps as it would have.
func TestLogLinesLost(t *testing.T) {
	t.Parallel()
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here:", err)
	}
	lf := logfile.New(f, "tasks/x/task.log")
	defer lf.Close()
	em := emit.NewMem()
	rs := &taskenv.Env{TaskID: "x", Emit: em, PID: 1, Log: lf}
	logger := hclog.New(&hclog.LoggerOptions{Output: lf, Level: hclog.Info})
	r, reason := runTask(context.Background(), rs, logger, func(t *T) {
		t.Step("logs", func(t *T) { t.Log("a line") })
		t.Step("fails", func(t *T) {
			t.Log("a line")
			t.Failf("on purpose")
		}, Continue)
		t.Step("next", func(t *T) {})
	})
	const full = "not written to tasks/x/task.log: no space left on device"
	if r != result.Errored || !strings.Contains(reason, full) {
		t.Errorf("task: %s %q, want Errored and %q", r, reason, full)
	}
	got := simplify(em.Tree.Sections)
	if len(got) != 3 {
		t.Fatalf("%d steps, want 3 (the task goes on): %+v", len(got), got)
	}
	for _, s := range got[:2] {
		if s.Result != result.Errored || !strings.Contains(s.Reason, full) {
			t.Errorf("step %s: %s %q, want Errored and %q", s.Name, s.Result, s.Reason, full)
		}
	}
	if !strings.HasSuffix(got[1].Reason, "; on purpose") {
		t.Errorf("step fails: reason %q does not keep its own", got[1].Reason)
	}
}
