package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
	"github.com/taskhost/taskhost/sdk/result"
)

// Result is one of the seven pyATS results of a task, section, step or
// hook: Skipped, Passed, Passx, Blocked, Failed, Errored, Aborted, from
// least to most severe. A step's result is its own rolled up with its
// children's (the more severe wins); Passed, Passx and Skipped are
// successes (Result.Success), and a step that is not one ends the step
// that started it, unless it was started with Continue. String gives the name
// in results.json ("passed"), Title the name as pyATS prints it
// ("Passed"); the zero value is Unset, no result yet.
//
// Result is the type of package sdk/result, which the host uses too: a
// Result, a RunSummary or a Counts means the same on both sides.
type Result = result.Result

// The seven results, from least to most severe (see sdk/result for each
// one's meaning).
const (
	// Skipped: not relevant here; a success.
	Skipped = result.Skipped
	// Passed: every check held; a success.
	Passed = result.Passed
	// Passx: passed, with an exception worth noting; a success.
	Passx = result.Passx
	// Blocked: could not run, for want of something it needs.
	Blocked = result.Blocked
	// Failed: a check did not hold.
	Failed = result.Failed
	// Errored: something went wrong that is not a failed check.
	Errored = result.Errored
	// Aborted: stopped before its end.
	Aborted = result.Aborted
)

// StepOption changes how a step behaves.
type StepOption int

// Continue lets the enclosing section or step go on when this step does not
// pass (by default a step that is not Passed, Passx or Skipped stops the
// section that started it, as in pyATS).
const Continue StepOption = 1

// T is handed to a task and to each of its sections and steps, like
// testing.T. Calls that set a result (Failf, Errorf, Skip, Block, Abort,
// Passx) end the current step at once with runtime.Goexit, as t.FailNow
// does in a test, so a recover() cannot keep the step going; they must be
// called from the goroutine running that step's function (each step's
// function runs in a goroutine of its own). Logging and SetData may be
// called from any goroutine.
type T struct {
	ctx    context.Context
	run    *runState
	node   *node
	logger hclog.Logger
}

// node is the state of the task itself (id "") or of one section or step.
type node struct {
	id       string
	name     string
	mu       sync.Mutex
	own      result.Result
	reason   string
	data     json.RawMessage
	children result.Result // rollup of the children's results
	next     int           // children started so far
}

// runState is shared by every T of one task run (or of one child process
// of a task): what the process runs with, and the run's shared state,
// opened on first use.
type runState struct {
	*taskenv.Env
	stateOnce sync.Once
	state     *State
}

// Context is cancelled when the task must stop: its timeout passed, the job
// was cancelled, or the host went away. Long operations should honour it.
func (t *T) Context() context.Context { return t.ctx }

// TaskID is the id the jobfile gave this task.
func (t *T) TaskID() string { return t.run.TaskID }

// Name is the name of the current step, or the task id at the top level.
func (t *T) Name() string {
	if t.node.id == "" {
		return t.run.TaskID
	}
	return t.node.name
}

// Logger is the go-hclog logger of the current step. Its lines land in the
// task's log file with their level and time.
func (t *T) Logger() hclog.Logger { return t.logger }

// Log logs its arguments at info level, formatted as fmt.Sprint does.
func (t *T) Log(args ...any) { t.logger.Info(fmt.Sprint(args...)) }

// Logf logs at info level, formatted as fmt.Sprintf does.
func (t *T) Logf(format string, args ...any) { t.logger.Info(fmt.Sprintf(format, args...)) }

// SetData attaches data to the current step: any value that encodes as
// JSON. It appears with the step's result in results.json. A later call
// replaces it.
func (t *T) SetData(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		t.logger.Error("step data does not encode as JSON; dropped", "error", err)
		return
	}
	t.node.mu.Lock()
	t.node.data = b
	t.node.mu.Unlock()
}

// Sync waits until every result event the task (this process) has
// reported so far is stored by the hub, so that it survives whatever
// happens next, a crash of this process or of the host included. Reporting
// does not need it: events are sent at once or within milliseconds, and
// all are stored before the task's end is. It returns an error when they
// could not be stored: at once when the hub refuses them for good (the
// task's credentials were revoked, the run's stream is full), and then
// every later call returns it too.
func (t *T) Sync() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 30*time.Second)
	defer cancel()
	_, err := t.run.Emit.Flush(ctx)
	return err
}

// Failf marks the current step Failed with a reason and ends it.
func (t *T) Failf(format string, args ...any) { t.end(result.Failed, fmt.Sprintf(format, args...)) }

// Errorf marks the current step Errored (something went wrong that is not a
// failed check) with a reason and ends it.
func (t *T) Errorf(format string, args ...any) { t.end(result.Errored, fmt.Sprintf(format, args...)) }

// Skip marks the current step Skipped with a reason and ends it.
func (t *T) Skip(reason string) { t.end(result.Skipped, reason) }

// Block marks the current step Blocked (it could not run because something
// it needs is missing) with a reason and ends it.
func (t *T) Block(reason string) { t.end(result.Blocked, reason) }

// Abort marks the current step Aborted with a reason and ends it.
func (t *T) Abort(reason string) { t.end(result.Aborted, reason) }

// Passx marks the current step Passx (passed with an exception worth noting)
// with a reason and ends it.
func (t *T) Passx(reason string) { t.end(result.Passx, reason) }

// Result is the current step's result so far: what it set on itself rolled
// up with its finished children, Passed if neither.
func (t *T) Result() Result {
	t.node.mu.Lock()
	defer t.node.mu.Unlock()
	return result.Rollup(t.node.own, t.node.children).Or(result.Passed)
}

// end sets the current step's result and ends the step: as FailNow does
// in a test, it stops the goroutine running the step's function with
// runtime.Goexit, so that its deferred calls run and a recover() in it
// cannot keep it going.
func (t *T) end(r result.Result, reason string) {
	t.setOwn(r, reason)
	runtime.Goexit()
}

func (t *T) setOwn(r result.Result, reason string) {
	t.node.mu.Lock()
	t.node.own = result.Rollup(t.node.own, r)
	if t.node.own == r {
		t.node.reason = reason
	}
	t.node.mu.Unlock()
	if reason != "" {
		t.logger.Info(fmt.Sprintf("%s: %s", r.Title(), reason))
	}
}

// Section runs fn as a section of the task (pyATS's setup, testcases and
// cleanup): a named part of the result tree that holds steps. It returns the
// section's rolled-up result.
func (t *T) Section(name string, fn func(t *T), opts ...StepOption) Result {
	return t.child(report.TypeSection, name, fn, opts)
}

// Step runs fn as a step under the current section or step; steps nest to
// any depth. It returns the step's rolled-up result. If the step does not
// pass (Passed, Passx or Skipped), the current step ends too, unless the
// step was started with Continue.
func (t *T) Step(name string, fn func(t *T), opts ...StepOption) Result {
	return t.child(report.TypeStep, name, fn, opts)
}

func (t *T) child(typ, name string, fn func(t *T), opts []StepOption) Result {
	t.node.mu.Lock()
	t.node.next++
	id := strconv.Itoa(t.node.next)
	t.node.mu.Unlock()
	parent := t.node.id
	switch {
	case parent != "":
		id = parent + "." + id
	case t.run.Root != "":
		id = t.run.Root + "." + id
		parent = t.run.Parent
	}
	c := &T{ctx: t.ctx, run: t.run, node: &node{id: id, name: name}}
	c.logger = t.logger.With("step", id)
	begin, failed := t.run.Log.End(), t.run.Log.Failures()
	t.run.Emit.Emit(report.Event{Kind: report.KindStart, ID: id, Parent: parent, Name: name, Type: typ})
	c.logger.Info(fmt.Sprintf("%s %s: %s", strings.ToUpper(typ), id, name))

	c.runFunc(fn)

	r := c.Result()
	c.node.mu.Lock()
	reason, data := c.node.reason, c.node.data
	c.node.mu.Unlock()
	// Lines of the step's log that could not be written (a full disk)
	// make its record Errored, and say so; what the step did, which
	// decides whether its parent goes on, is r.
	rec, why := logLost(r, reason, t.run.Log.LostSince(failed))
	c.logger.Info(fmt.Sprintf("%s %s: %s => %s", strings.ToUpper(typ), id, name, rec.Title()))
	t.run.Emit.Emit(report.Event{Kind: report.KindEnd, ID: id, Result: rec, Reason: why, Data: data, Logs: t.run.Log.Ref(begin)})

	t.node.mu.Lock()
	t.node.children = result.Rollup(t.node.children, r)
	t.node.mu.Unlock()
	if !r.Success() && !hasOpt(opts, Continue) {
		runtime.Goexit()
	}
	return r
}

// runFunc calls fn(t) in a goroutine of its own and waits for it, as
// testing.T.Run does, so that ending the step (runtime.Goexit, from Failf
// and friends) ends fn alone. A panic in fn makes the step Errored, with
// the stack in the log.
func (t *T) runFunc(fn func(t *T)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// A step ended with runtime.Goexit has nothing to recover.
			if v := recover(); v != nil {
				t.logger.Error(fmt.Sprintf("panic: %v\n%s", v, debug.Stack()))
				t.setOwn(result.Errored, fmt.Sprintf("panic: %v", v))
			}
		}()
		fn(t)
	}()
	<-done
}

// logLost is the result and reason to record for a step (or task) that
// ended with r and reason, when lines of its log were lost (lost says
// how many, and why): Errored, since the record is not whole, and the
// reason it had after the loss.
func logLost(r result.Result, reason, lost string) (result.Result, string) {
	if lost == "" {
		return r, reason
	}
	if r2 := result.Rollup(r, result.Errored); r2 != r {
		r = r2
		reason = strings.TrimSuffix(lost+"; "+reason, "; ")
	}
	return r, reason
}

func hasOpt(opts []StepOption, o StepOption) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// runTask runs fn as the task at the top of the tree and returns its
// rolled-up result and reason, after emitting the task's end event.
func runTask(ctx context.Context, env *taskenv.Env, logger hclog.Logger, fn func(t *T)) (Result, string) {
	rs := &runState{Env: env}
	t := &T{ctx: ctx, run: rs, node: &node{}, logger: logger}
	start := time.Now()
	t.runFunc(fn)
	r := t.Result()
	t.node.mu.Lock()
	reason, data := t.node.reason, t.node.data
	t.node.mu.Unlock()
	if ctx.Err() != nil && r.Success() {
		// The task returned after being told to stop; what it did is not
		// what it was asked to do.
		r, reason = result.Aborted, "stopped: "+context.Cause(ctx).Error()
	}
	r, reason = logLost(r, reason, rs.Log.LostSince(0))
	rs.Emit.Emit(report.Event{Kind: report.KindEnd, Result: r, Reason: reason, Data: data})
	logger.Info(fmt.Sprintf("task %s => %s", rs.TaskID, r.Title()), "elapsed", time.Since(start).Round(time.Millisecond).String())
	return r, reason
}
