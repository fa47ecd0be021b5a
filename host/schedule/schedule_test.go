package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/taskhost/taskhost/host/schedule"
	"github.com/taskhost/taskhost/sdk/result"
)

// guard is how long a test waits for something that must happen before it
// gives up; it only turns a hang into a failure.
const guard = 10 * time.Second

type notRun struct {
	R      result.Result
	Reason string
}

// fake is a Run and NotRun pair that records what the scheduler does.
// Each task's Run waits for the test to send its result on release[id].
type fake struct {
	deps    map[string][]string
	release map[string]chan result.Result
	started chan string

	mu        sync.Mutex
	ended     map[string]bool
	order     []string // tasks in the order they started
	violation []string
	notRun    map[string]notRun
}

func newFake(tasks []schedule.Task) *fake {
	f := &fake{
		deps:    map[string][]string{},
		release: map[string]chan result.Result{},
		started: make(chan string, len(tasks)),
		ended:   map[string]bool{},
		notRun:  map[string]notRun{},
	}
	for _, t := range tasks {
		f.deps[t.ID] = t.DependsOn
		f.release[t.ID] = make(chan result.Result, 1)
	}
	return f
}

func (f *fake) config(maxParallel int) schedule.Config {
	return schedule.Config{MaxParallel: maxParallel, Run: f.run, NotRun: f.notRunFn}
}

func (f *fake) run(ctx context.Context, id string) result.Result {
	f.mu.Lock()
	for _, d := range f.deps[id] {
		if !f.ended[d] {
			f.violation = append(f.violation, fmt.Sprintf("%s started before its dependency %s ended", id, d))
		}
	}
	if _, ok := f.notRun[id]; ok {
		f.violation = append(f.violation, id+" started after NotRun")
	}
	f.order = append(f.order, id)
	f.mu.Unlock()
	f.started <- id
	r := <-f.release[id]
	f.mu.Lock()
	f.ended[id] = true
	f.mu.Unlock()
	return r
}

func (f *fake) notRunFn(id string, r result.Result, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.notRun[id]; dup {
		f.violation = append(f.violation, "NotRun twice for "+id)
	}
	f.notRun[id] = notRun{r, reason}
}

// waitStart waits for the next task to start.
func (f *fake) waitStart(t *testing.T) string {
	t.Helper()
	select {
	case id := <-f.started:
		return id
	case <-time.After(guard):
		t.Fatal("no task started")
		return ""
	}
}

// runAsync runs the schedule in the background.
func runAsync(ctx context.Context, tasks []schedule.Task, cfg schedule.Config) <-chan map[string]result.Result {
	out := make(chan map[string]result.Result, 1)
	go func() { out <- schedule.Run(ctx, tasks, cfg) }()
	return out
}

func waitResults(t *testing.T, ch <-chan map[string]result.Result) map[string]result.Result {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(guard):
		t.Fatal("schedule.Run did not return")
		return nil
	}
}

// drive answers every start with the result results gives the task, until
// the schedule returns.
func drive(t *testing.T, f *fake, results map[string]result.Result, done <-chan map[string]result.Result) map[string]result.Result {
	t.Helper()
	for {
		select {
		case id := <-f.started:
			r, ok := results[id]
			if !ok {
				t.Errorf("task %s started; it should not have", id)
				r = result.Passed
			}
			f.release[id] <- r
		case m := <-done:
			return m
		case <-time.After(guard):
			t.Fatal("schedule.Run did not return")
			return nil
		}
	}
}

func TestDependencyOrder(t *testing.T) {
	t.Parallel()
	// a → b, c → d; e alone; f after d and e.
	tasks := []schedule.Task{
		{ID: "d", DependsOn: []string{"b", "c"}},
		{ID: "b", DependsOn: []string{"a"}},
		{ID: "a"},
		{ID: "c", DependsOn: []string{"a"}},
		{ID: "e"},
		{ID: "f", DependsOn: []string{"d", "e"}},
	}
	f := newFake(tasks)
	done := runAsync(context.Background(), tasks, f.config(0))

	// Phase 1: a and e start; release a only. Phase 2: b and c start;
	// release them. Phase 3: d starts; release it, then e. Phase 4: f.
	// Each Run checks that the task's dependencies have ended.
	got := map[string]bool{}
	expect := func(ids ...string) {
		t.Helper()
		for range ids {
			got[f.waitStart(t)] = true
		}
		for _, id := range ids {
			if !got[id] {
				t.Fatalf("started %v, want %v among them", got, ids)
			}
		}
	}
	expect("a", "e")
	f.release["a"] <- result.Passed
	expect("b", "c")
	f.release["b"] <- result.Passed
	f.release["c"] <- result.Passx
	expect("d")
	f.release["d"] <- result.Passed
	// f waits for e too.
	f.release["e"] <- result.Skipped
	expect("f")
	f.release["f"] <- result.Failed

	m := waitResults(t, done)
	want := map[string]result.Result{
		"a": result.Passed, "b": result.Passed, "c": result.Passx,
		"d": result.Passed, "e": result.Skipped, "f": result.Failed,
	}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.violation) > 0 {
		t.Errorf("violations:\n%s", strings.Join(f.violation, "\n"))
	}
	if len(f.notRun) > 0 {
		t.Errorf("NotRun called: %v", f.notRun)
	}
	if len(f.order) != len(tasks) {
		t.Errorf("Run called for %v, want each task once", f.order)
	}
}

func TestDependencyOrderChain(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		tasks []schedule.Task
		order []string
	}{
		"chain listed backwards": {
			tasks: []schedule.Task{
				{ID: "t4", DependsOn: []string{"t3"}},
				{ID: "t3", DependsOn: []string{"t2"}},
				{ID: "t2", DependsOn: []string{"t1"}},
				{ID: "t1"},
			},
			order: []string{"t1", "t2", "t3", "t4"},
		},
		"diamond": {
			tasks: []schedule.Task{
				{ID: "top"},
				{ID: "join", DependsOn: []string{"left", "right"}},
				{ID: "left", DependsOn: []string{"top"}},
				{ID: "right", DependsOn: []string{"left"}},
			},
			order: []string{"top", "left", "right", "join"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(tc.tasks)
			results := map[string]result.Result{}
			for _, task := range tc.tasks {
				results[task.ID] = result.Passed
			}
			m := drive(t, f, results, runAsync(context.Background(), tc.tasks, f.config(0)))
			if diff := cmp.Diff(results, m); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if diff := cmp.Diff(tc.order, f.order); diff != "" {
				t.Errorf("start order (-want +got):\n%s", diff)
			}
			if len(f.violation) > 0 {
				t.Errorf("violations:\n%s", strings.Join(f.violation, "\n"))
			}
		})
	}
}

func TestFailedDependencyBlocks(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		depResult result.Result
		blocks    bool
	}{
		"failed":  {depResult: result.Failed, blocks: true},
		"errored": {depResult: result.Errored, blocks: true},
		"aborted": {depResult: result.Aborted, blocks: true},
		"blocked": {depResult: result.Blocked, blocks: true},
		"passed":  {depResult: result.Passed, blocks: false},
		"passx":   {depResult: result.Passx, blocks: false},
		"skipped": {depResult: result.Skipped, blocks: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tasks := []schedule.Task{
				{ID: "setup"},
				{ID: "child", DependsOn: []string{"setup"}},
				{ID: "grandchild", DependsOn: []string{"child"}},
				{ID: "other"},
				{ID: "mixed", DependsOn: []string{"other", "setup"}},
			}
			f := newFake(tasks)
			run := map[string]result.Result{"setup": tc.depResult, "other": result.Passed}
			if !tc.blocks {
				run["child"] = result.Passed
				run["grandchild"] = result.Passed
				run["mixed"] = result.Passed
			}
			m := drive(t, f, run, runAsync(context.Background(), tasks, f.config(0)))

			want := map[string]result.Result{"setup": tc.depResult, "other": result.Passed,
				"child": result.Passed, "grandchild": result.Passed, "mixed": result.Passed}
			wantNotRun := map[string]notRun{}
			if tc.blocks {
				want["child"], want["grandchild"], want["mixed"] = result.Blocked, result.Blocked, result.Blocked
				wantNotRun = map[string]notRun{
					"child":      {R: result.Blocked, Reason: "dependency setup ended " + tc.depResult.Title()},
					"grandchild": {R: result.Blocked, Reason: "dependency child ended Blocked"},
					"mixed":      {R: result.Blocked, Reason: "dependency setup ended " + tc.depResult.Title()},
				}
			}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if diff := cmp.Diff(wantNotRun, f.notRun); diff != "" {
				t.Errorf("NotRun calls (-want +got):\n%s", diff)
			}
			if len(f.violation) > 0 {
				t.Errorf("violations:\n%s", strings.Join(f.violation, "\n"))
			}
		})
	}
}

func TestMaxParallel(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		limit int
	}{
		"one":   {limit: 1},
		"two":   {limit: 2},
		"three": {limit: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const n = 10
			var tasks []schedule.Task
			for i := range n {
				tasks = append(tasks, schedule.Task{ID: fmt.Sprintf("t%02d", i)})
			}
			var running, peak, calls atomic.Int32
			started := make(chan struct{}, n)
			gate := make(chan struct{})
			cfg := schedule.Config{
				MaxParallel: tc.limit,
				Run: func(ctx context.Context, id string) result.Result {
					calls.Add(1)
					now := running.Add(1)
					for {
						p := peak.Load()
						if now <= p || peak.CompareAndSwap(p, now) {
							break
						}
					}
					started <- struct{}{}
					<-gate
					running.Add(-1)
					return result.Passed
				},
				NotRun: func(id string, r result.Result, reason string) {
					t.Errorf("NotRun(%s, %v, %q)", id, r, reason)
				},
			}
			done := runAsync(context.Background(), tasks, cfg)

			wait := func() {
				t.Helper()
				select {
				case <-started:
				case <-time.After(guard):
					t.Fatalf("fewer tasks started than the limit allows (peak %d)", peak.Load())
				}
			}
			// The limit is reached: tc.limit tasks are held in Run at once.
			for range tc.limit {
				wait()
			}
			if got := running.Load(); got != int32(tc.limit) {
				t.Errorf("%d tasks running with all held, want %d", got, tc.limit)
			}
			// Let one end at a time; another takes its place.
			for i := 0; i < n; i++ {
				gate <- struct{}{}
				if i+tc.limit < n {
					wait()
				}
			}
			m := waitResults(t, done)
			if len(m) != n {
				t.Errorf("%d results, want %d", len(m), n)
			}
			for id, r := range m {
				if r != result.Passed {
					t.Errorf("%s = %v, want passed", id, r)
				}
			}
			if got := peak.Load(); got != int32(tc.limit) {
				t.Errorf("at most %d tasks ran at once, want exactly %d", got, tc.limit)
			}
			if got := calls.Load(); got != n {
				t.Errorf("Run called %d times, want %d", got, n)
			}
		})
	}
}

// With a limit of n, the scheduler starts no more than n tasks in one go.
// The check does not rely on timing: a task that fails at once ("probe")
// lets the scheduler call NotRun for its dependent ("after") only once it
// has finished its first round of starts; NotRun cancels the context then,
// so tasks started in that first round run and every later one is Aborted.
// A scheduler that ignored the limit would have started every worker in
// that first round.
func TestMaxParallelFirstRound(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		limit   int
		running []string // workers that run: limit-1, with the probe
	}{
		"one":   {limit: 1, running: nil},
		"two":   {limit: 2, running: []string{"w00"}},
		"three": {limit: 3, running: []string{"w00", "w01"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tasks := []schedule.Task{{ID: "probe"}}
			for i := range 10 {
				tasks = append(tasks, schedule.Task{ID: fmt.Sprintf("w%02d", i)})
			}
			tasks = append(tasks, schedule.Task{ID: "after", DependsOn: []string{"probe"}})

			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			gate := make(chan struct{})
			var running, peak atomic.Int32
			var mu sync.Mutex
			var ran []string
			notRuns := map[string]notRun{}
			cfg := schedule.Config{
				MaxParallel: tc.limit,
				Run: func(ctx context.Context, id string) result.Result {
					now := running.Add(1)
					defer running.Add(-1)
					for {
						p := peak.Load()
						if now <= p || peak.CompareAndSwap(p, now) {
							break
						}
					}
					if id == "probe" {
						return result.Failed
					}
					mu.Lock()
					ran = append(ran, id)
					mu.Unlock()
					<-gate
					return result.Passed
				},
				NotRun: func(id string, r result.Result, reason string) {
					mu.Lock()
					notRuns[id] = notRun{r, reason}
					mu.Unlock()
					if id == "after" {
						cancel(errors.New("probe done"))
						close(gate)
					}
				},
			}
			m := waitResults(t, runAsync(ctx, tasks, cfg))

			want := map[string]result.Result{"probe": result.Failed, "after": result.Blocked}
			wantNotRun := map[string]notRun{"after": {R: result.Blocked, Reason: "dependency probe ended Failed"}}
			for _, task := range tasks[1:11] {
				want[task.ID] = result.Aborted
				wantNotRun[task.ID] = notRun{R: result.Aborted, Reason: "not started: probe done"}
			}
			for _, id := range tc.running {
				want[id] = result.Passed
				delete(wantNotRun, id)
			}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tc.running, ran, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("workers run (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantNotRun, notRuns); diff != "" {
				t.Errorf("NotRun calls (-want +got):\n%s", diff)
			}
			if p := peak.Load(); p > int32(tc.limit) {
				t.Errorf("%d tasks ran at once, limit %d", p, tc.limit)
			}
		})
	}
}

// A task starts only when every one of its dependencies has ended: here
// d must not start when p1 has ended and p2 has not. x (after p1 only)
// shows when the scheduler has dealt with p1's end, without timing.
func TestWaitsForEveryDependency(t *testing.T) {
	t.Parallel()
	tasks := []schedule.Task{
		{ID: "p1"},
		{ID: "p2"},
		{ID: "d", DependsOn: []string{"p1", "p2"}},
		{ID: "x", DependsOn: []string{"p1"}},
	}
	f := newFake(tasks)
	done := runAsync(context.Background(), tasks, f.config(0))
	got := map[string]bool{f.waitStart(t): true, f.waitStart(t): true}
	if !got["p1"] || !got["p2"] {
		t.Fatalf("first starts = %v, want p1 and p2", got)
	}
	f.release["p1"] <- result.Passed
	for {
		id := f.waitStart(t)
		if id == "x" {
			break
		}
		t.Errorf("%s started while p2 had not ended", id)
		f.release[id] <- result.Passed
	}
	f.release["p2"] <- result.Failed
	f.release["x"] <- result.Passed
	m := drive(t, f, map[string]result.Result{}, done)

	want := map[string]result.Result{"p1": result.Passed, "p2": result.Failed, "x": result.Passed, "d": result.Blocked}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if diff := cmp.Diff(map[string]notRun{"d": {R: result.Blocked, Reason: "dependency p2 ended Failed"}}, f.notRun); diff != "" {
		t.Errorf("NotRun calls (-want +got):\n%s", diff)
	}
}

func TestNoLimitRunsAllReadyTasks(t *testing.T) {
	t.Parallel()
	const n = 10
	var tasks []schedule.Task
	for i := range n {
		tasks = append(tasks, schedule.Task{ID: fmt.Sprint(i)})
	}
	var running atomic.Int32
	started := make(chan struct{}, n)
	gate := make(chan struct{})
	cfg := schedule.Config{Run: func(ctx context.Context, id string) result.Result {
		running.Add(1)
		started <- struct{}{}
		<-gate
		return result.Passed
	}, NotRun: func(string, result.Result, string) {}}
	done := runAsync(context.Background(), tasks, cfg)
	// All ten are held at once: only possible if none waits for another.
	for range n {
		select {
		case <-started:
		case <-time.After(guard):
			t.Fatalf("only %d tasks started with MaxParallel 0", running.Load())
		}
	}
	close(gate)
	if m := waitResults(t, done); len(m) != n {
		t.Errorf("%d results, want %d", len(m), n)
	}
}

func TestCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		maxParallel int
	}{
		"no limit": {maxParallel: 0},
		"limit 1":  {maxParallel: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tasks := []schedule.Task{{ID: "a"}, {ID: "b"}, {ID: "c"}}
			f := newFake(tasks)
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(errors.New("interrupted"))
			m := drive(t, f, nil, runAsync(ctx, tasks, f.config(tc.maxParallel)))
			want := map[string]result.Result{"a": result.Aborted, "b": result.Aborted, "c": result.Aborted}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			wantNotRun := map[string]notRun{
				"a": {R: result.Aborted, Reason: "not started: interrupted"},
				"b": {R: result.Aborted, Reason: "not started: interrupted"},
				"c": {R: result.Aborted, Reason: "not started: interrupted"},
			}
			if diff := cmp.Diff(wantNotRun, f.notRun); diff != "" {
				t.Errorf("NotRun calls (-want +got):\n%s", diff)
			}
		})
	}
}

// Tasks that were never started because the job was cancelled are Aborted
// "not started", whether or not they wait on another task.
func TestCancelledBeforeStartWithDependencies(t *testing.T) {
	t.Parallel()
	tasks := []schedule.Task{{ID: "a"}, {ID: "b", DependsOn: []string{"a"}}}
	f := newFake(tasks)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := drive(t, f, nil, runAsync(ctx, tasks, f.config(0)))
	want := map[string]result.Result{"a": result.Aborted, "b": result.Aborted}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, nr := range f.notRun {
		if nr.R != result.Aborted || !strings.Contains(nr.Reason, "not started") {
			t.Errorf("NotRun(%s) = %v %q, want aborted \"not started: ...\"", id, nr.R, nr.Reason)
		}
	}
}

func TestCancelledWhileRunning(t *testing.T) {
	t.Parallel()
	tasks := []schedule.Task{{ID: "first"}, {ID: "second"}, {ID: "third"}}
	f := newFake(tasks)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := runAsync(ctx, tasks, f.config(1))
	if id := f.waitStart(t); id != "first" {
		t.Fatalf("%s started first, want first (jobfile order)", id)
	}
	cancel(errors.New("ctrl-c"))
	f.release["first"] <- result.Aborted
	m := waitResults(t, done)
	want := map[string]result.Result{"first": result.Aborted, "second": result.Aborted, "third": result.Aborted}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	wantNotRun := map[string]notRun{
		"second": {R: result.Aborted, Reason: "not started: ctrl-c"},
		"third":  {R: result.Aborted, Reason: "not started: ctrl-c"},
	}
	if diff := cmp.Diff(wantNotRun, f.notRun); diff != "" {
		t.Errorf("NotRun calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"first"}, f.order); diff != "" {
		t.Errorf("Run calls (-want +got):\n%s", diff)
	}
}

func TestRunPassesContext(t *testing.T) {
	t.Parallel()
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	var got atomic.Value
	schedule.Run(ctx, []schedule.Task{{ID: "a"}}, schedule.Config{
		Run: func(ctx context.Context, id string) result.Result {
			got.Store(ctx.Value(key{}))
			return result.Passed
		},
		NotRun: func(string, result.Result, string) {},
	})
	if got.Load() != "v" {
		t.Errorf("Run's ctx does not derive from the schedule's: value = %v", got.Load())
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	m := schedule.Run(context.Background(), nil, schedule.Config{
		Run: func(context.Context, string) result.Result {
			t.Error("Run called")
			return result.Passed
		},
	})
	if len(m) != 0 {
		t.Errorf("results = %v, want none", m)
	}
}

func TestUnknownDependencyPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), `depends on unknown "ghost"`) {
			t.Errorf("panic = %v, want one naming the unknown dependency", v)
		}
	}()
	schedule.Run(context.Background(), []schedule.Task{{ID: "a", DependsOn: []string{"ghost"}}}, schedule.Config{
		Run: func(context.Context, string) result.Result { return result.Passed },
	})
}

func TestCyclePanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "cycle") {
			t.Errorf("panic = %v, want one about a cycle", v)
		}
	}()
	schedule.Run(context.Background(), []schedule.Task{
		{ID: "a", DependsOn: []string{"b"}},
		{ID: "b", DependsOn: []string{"a"}},
	}, schedule.Config{Run: func(context.Context, string) result.Result { return result.Passed }})
}

func TestMaxFailStopsStartingTasks(t *testing.T) {
	t.Parallel()
	tasks := []schedule.Task{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d", DependsOn: []string{"c"}}, {ID: "e"}}
	f := newFake(tasks)
	cfg := f.config(2)
	cfg.MaxFail = 1
	cfg.MaxFailName = "--fail-fast"
	done := runAsync(context.Background(), tasks, cfg)
	// a and b start; a fails while b still runs: b goes on to its end,
	// nothing else starts.
	if first, second := f.waitStart(t), f.waitStart(t); first+second != "ab" && first+second != "ba" {
		t.Fatalf("started %s and %s, want a and b", first, second)
	}
	f.release["a"] <- result.Failed
	// b ends once the schedule has stopped: it does not start c.
	for deadline := time.Now().Add(guard); ; time.Sleep(time.Millisecond) {
		f.mu.Lock()
		_, stopped := f.notRun["e"]
		f.mu.Unlock()
		if stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the schedule did not stop after a failed")
		}
	}
	f.release["b"] <- result.Passed
	got := waitResults(t, done)
	want := map[string]result.Result{"a": result.Failed, "b": result.Passed, "c": result.Blocked, "d": result.Blocked, "e": result.Blocked}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	reason := "not started: a ended Failed (--fail-fast)"
	wantNotRun := map[string]notRun{"c": {result.Blocked, reason}, "d": {result.Blocked, reason}, "e": {result.Blocked, reason}}
	if diff := cmp.Diff(wantNotRun, f.notRun); diff != "" {
		t.Errorf("not run (-want +got):\n%s", diff)
	}
	if len(f.violation) > 0 {
		t.Errorf("violations: %v", f.violation)
	}
}

func TestMaxFailCountsOnlyTasksThatRan(t *testing.T) {
	t.Parallel()
	// b is Blocked by a: it does not count, so the limit of 2 is reached
	// only by c.
	tasks := []schedule.Task{{ID: "a"}, {ID: "b", DependsOn: []string{"a"}}, {ID: "p"}, {ID: "c"}, {ID: "z"}}
	f := newFake(tasks)
	cfg := f.config(1)
	cfg.MaxFail = 2
	done := runAsync(context.Background(), tasks, cfg)
	got := drive(t, f, map[string]result.Result{"a": result.Errored, "p": result.Passed, "c": result.Failed}, done)
	want := map[string]result.Result{"a": result.Errored, "b": result.Blocked, "p": result.Passed, "c": result.Failed, "z": result.Blocked}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	if r := f.notRun["z"].Reason; r != "not started: 2 tasks did not pass, the last c ended Failed (max fail 2)" {
		t.Errorf("z's reason: %q", r)
	}
}
