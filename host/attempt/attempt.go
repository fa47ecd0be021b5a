package attempt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// Call is one call of a pack: an attempt of a task, or a hook's call at
// one stage. It is what the pack is sent.
type Call struct {
	// Pack is the jobfile's name of the pack that serves the call; the
	// Starter starts it.
	Pack string
	// Task is the task's name in the pack; "" for a hook.
	Task string
	// Hook is the hook's call; nil for a task.
	Hook *HookCall
	// Args are the call's arguments, a JSON object checked against their
	// schema.
	Args []byte
	// RunID is the run's id (its run directory's name).
	RunID string
	// ID is the task's id, or the hook call's, that the call reports as.
	ID string
	// Attempt counts the task's attempts from 1; a hook's call is 1.
	Attempt int
	// LogDir is the call's directory in the run directory, where the
	// pack writes its log; "" for stderr.
	LogDir string
	// Interactive says the call may talk to the user (the debugging
	// options' interactive task).
	Interactive bool
	// Sensitive are the values in Args that the pack must not show.
	Sensitive []string
	// Hub is where and as whom the call reports; Runner.Run sets it from
	// Hub.AddTask.
	Hub HubAccess
	// Deadline is when the call must be done; zero for none. Runner.Run
	// sets it from the call's context.
	Deadline time.Time
}

// HookCall says which hook a call runs, at which stage, and what it may
// know of the run.
type HookCall struct {
	// Name is the hook's name in the pack.
	Name string
	// Stage is "pre_job", "pre_task", "post_task" or "post_job".
	Stage string
	// TaskID is the task the hook runs around (pre_task, post_task).
	TaskID string
	// Results are the run's results so far, a result.RunSummary as JSON.
	Results []byte
}

// HubAccess says where and as whom a call reports: the hub's address, a
// token of the call's own, its subjects, and the state server's socket.
type HubAccess struct {
	URL           string
	Token         string
	EventsSubject string
	InboxPrefix   string
	MsgIDPrefix   string
	StateSocket   string
	// CA, if set, is the PEM certificate(s) the task must verify the
	// hub's TLS certificate against: the hub is reached over TLS (a task
	// on an agent). "" is a plain connection (a task on the host).
	CA string
	// Slot is the attempt's slot in the hub (the index given to AddTask):
	// it names the attempt on the host's side only, and is not sent to
	// the pack.
	Slot int
}

// Reply is what a pack's call returned.
type Reply struct {
	// Result is the call's rolled-up result, Reason why when it did not
	// pass.
	Result result.Result
	Reason string
	// LastSeq is the sequence number of the last event the call sent.
	LastSeq uint64
	// Outputs are the outputs a task set, by name, each as JSON.
	Outputs map[string][]byte
}

// ErrCancelled is wrapped by the error of a Pack's Run that was cancelled
// or ran past its deadline, as the pack saw it (the caller's context may
// see it a moment later).
var ErrCancelled = errors.New("the pack's call was cancelled")

// Pack is a started pack process, serving one call.
type Pack interface {
	// PID is the process's id.
	PID() int
	// Run makes the call. Cancelling ctx cancels the call's context in
	// the pack; Run then returns at once (an error that wraps
	// ErrCancelled), while the pack may still be finishing.
	Run(ctx context.Context, c Call) (Reply, error)
	// WaitExit waits up to d for the process to end by itself and says
	// how it ended; ok is false if it is still running.
	WaitExit(d time.Duration) (how string, ok bool)
	// KillNow kills the process and what it started, and returns.
	KillNow()
	// Kill kills the process and what it started, and waits until they
	// are gone.
	Kill()
}

// Placed is a Pack that runs on an agent, not on the host (host/remote).
type Placed interface {
	// Agent is the name of the agent that runs the pack.
	Agent() string
}

// Starter starts the pack process that serves a call. Start writes what
// the pack writes (before it serves, and on stderr) to out; cancelling
// ctx stops the start, and Start then returns an error.
type Starter interface {
	Start(ctx context.Context, c Call, out io.Writer) (Pack, error)
}

// Hub is what an attempt needs of the run's hub (host/hub): the call's
// credentials and slot, and the slot's result tree.
type Hub interface {
	// AddTask registers the call, reporting as id into slot, with its
	// log files in logDir of the run directory, and returns its
	// credentials.
	AddTask(id string, slot int, logDir string) HubAccess
	// Watch returns a context that ends when the slot goes over its
	// limits.
	Watch(ctx context.Context, slot int) (context.Context, context.CancelFunc)
	// WaitTask waits until the slot's events up to seq are applied.
	WaitTask(ctx context.Context, slot int, seq uint64) error
	// WaitEnded waits until the slot's end event is applied (or it can
	// no longer come).
	WaitEnded(ctx context.Context, slot int) error
	// Drain waits until every event stored so far is read.
	Drain(ctx context.Context) error
	// StoreTrouble says why the run's store could not write at some time
	// since t, or nil.
	StoreTrouble(t time.Time) error
	// Tree calls fn with the slot's result tree, under the hub's lock.
	Tree(slot int, fn func(*report.Tree)) error
	// Seal revokes the slot's credentials and closes its steps still
	// open with res and reason, as of at.
	Seal(ctx context.Context, slot int, res result.Result, reason string, at time.Time) error
}

// Runner runs the attempts of one run. Set its fields before the first
// Run; Wait when the run ends.
type Runner struct {
	// Starter starts each call's pack.
	Starter Starter
	// Hub is the run's hub.
	Hub Hub
	// Log is the run's own log (job.log); nil discards.
	Log hclog.Logger
	// RunDir is the run directory: paths in it are shown from it in the
	// reasons an attempt gives.
	RunDir string

	reap sync.WaitGroup // packs being reaped after their call returned
}

// Options are how Runner.Run runs one call.
type Options struct {
	// Slot is the call's slot in the hub: each attempt has one of its
	// own.
	Slot int
	// RecordDir is the call's directory in the run directory
	// ("tasks/<id>"): the log files its events name must be there.
	RecordDir string
	// Timeout bounds the call, its pack's start-up included; 0 for none.
	Timeout time.Duration
	// Grace is how long a call that must stop (its timeout, the run's
	// end) has to return before its process is killed.
	Grace time.Duration
	// Out is the call's own log (task.log): the host's messages about
	// the call and what its pack writes before it serves.
	Out io.Writer
	// Started, if set, is called with the pack's process id (on its
	// agent's machine if agent is not "") once it serves and the call is
	// registered with the hub, before the call.
	Started func(pid int, agent string)
}

// Outcome is how a call ended and what it left in its record.
type Outcome struct {
	// PID is the pack process's id; 0 if it did not start.
	PID int
	// Agent is the agent that ran the pack; "" for the host.
	Agent string
	// Result and Reason are the call's result and why.
	Result result.Result
	Reason string
	// Data is what the call set outside any step.
	Data json.RawMessage
	// Sections are its top-level sections and steps; nil if it had none
	// (or did not start). Spool, if not nil, holds the first of them,
	// which its tree let go of as it ran (report.Tree.Spill): Sections
	// are those after.
	Spool    report.Spool
	Sections []*report.Node
	// Logs are the log files its processes reported.
	Logs []string
	// Outputs are the outputs it returned that are JSON.
	Outputs map[string][]byte
}

// Run runs c once, as o says, and returns how it ended. The call's
// timeout covers its pack's start-up too; a call that must stop has its
// grace period to return; its process is killed once it ended, and its
// result tree is sealed in the hub.
func (r *Runner) Run(ctx context.Context, c Call, o Options) Outcome {
	since := time.Now()
	var out Outcome
	w := o.Out
	if w == nil {
		w = io.Discard
	}
	tlog := hclog.New(&hclog.LoggerOptions{Name: "taskhost", Level: hclog.Info, Output: w})
	what := "task"
	if c.Hook != nil {
		what = "hook"
	}

	runCtx := ctx
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("timed out after %s", o.Timeout))
		defer cancel()
	}
	pack, err := r.Starter.Start(runCtx, c, w)
	if err != nil && runCtx.Err() != nil {
		// Stopped (its timeout, the job's, an interrupt) before its pack
		// served: the pack was killed while it started.
		reason := context.Cause(runCtx).Error()
		tlog.Warn("stopping the "+what+" before its pack served", "reason", reason)
		out.Result, out.Reason = result.Aborted, reason
		return out
	}
	if err != nil {
		tlog.Error("pack did not start", "error", err)
		out.Result, out.Reason = result.Errored, err.Error()
		return out
	}
	out.PID = pack.PID()
	if pl, ok := pack.(Placed); ok {
		out.Agent = pl.Agent()
	}
	c.Hub = r.Hub.AddTask(c.ID, o.Slot, o.RecordDir)
	if o.Started != nil {
		o.Started(out.PID, out.Agent)
	}

	runCtx, unwatch := r.Hub.Watch(runCtx, o.Slot) // stopped if it goes over its limits
	defer unwatch()
	if dl, ok := runCtx.Deadline(); ok {
		c.Deadline = dl
	}
	reply, err := pack.Run(runCtx, c)
	res, reason := r.ended(runCtx, pack, o.Slot, reply, err, o.Grace, what, tlog)
	if err == nil {
		var refused string
		if out.Outputs, refused = checkOutputs(reply.Outputs); refused != "" {
			res, reason = result.Errored, refused
		}
	}
	out.Result, out.Reason = r.seal(o.Slot, res, reason, err == nil, reply.LastSeq, since, tlog, func(tree *report.Tree) {
		out.Data = tree.Own.Data
		out.Spool, out.Sections = tree.Taken()
		out.Logs = tree.Logs
	})
	return out
}

// Wait waits until the packs of the calls that returned are reaped.
func (r *Runner) Wait() { r.reap.Wait() }

func (r *Runner) log() hclog.Logger {
	if r.Log == nil {
		return hclog.NewNullLogger()
	}
	return r.Log
}

// ended says how a pack's call (of a task or a hook: what) ended, and
// sees the process over: the call returned (the pack's events are taken,
// then its group is killed); runCtx ended it (timeout or cancellation:
// the pack has the grace period to return, then its group is killed;
// Aborted with the cause); or the process died (Errored with how, and
// what it had sent is drained).
func (r *Runner) ended(runCtx context.Context, pack Pack, slot int, reply Reply, err error,
	grace time.Duration, what string, tlog hclog.Logger) (result.Result, string) {
	if err != nil && errors.Is(err, ErrCancelled) {
		// The pack saw the deadline a moment before we did.
		select {
		case <-runCtx.Done():
		case <-time.After(time.Second):
		}
	}
	if err == nil && reply.Result == result.Aborted && deadlineNear(runCtx) {
		// The pack saw the call's deadline (it has it in the call) and
		// returned Aborted a moment before ours passed: the reason is
		// ours ("timed out after …"), as when we stop it.
		t := time.NewTimer(time.Second)
		select {
		case <-runCtx.Done():
		case <-t.C:
		}
		t.Stop()
		if runCtx.Err() != nil {
			reason := context.Cause(runCtx).Error()
			tlog.Warn("stopping the "+what, "reason", reason, "grace", grace)
			r.returned(pack, slot, reply.LastSeq, tlog)
			return result.Aborted, reason
		}
	}
	switch {
	case err == nil:
		r.returned(pack, slot, reply.LastSeq, tlog)
		return reply.Result, reply.Reason
	case runCtx.Err() != nil:
		reason := context.Cause(runCtx).Error()
		tlog.Warn("stopping the "+what, "reason", reason, "grace", grace)
		gctx, cancel := context.WithTimeout(context.Background(), grace)
		if r.Hub.WaitEnded(gctx, slot) != nil {
			tlog.Warn("the " + what + " did not return within the grace period; killing its process group")
		}
		cancel()
		pack.Kill()
		return result.Aborted, reason
	default:
		// The call failed: most likely the process died.
		reason, exited := pack.WaitExit(2 * time.Second)
		if !exited {
			reason = "lost the pack: " + err.Error()
		}
		pack.Kill()
		tlog.Error(what+" process ended abnormally", "reason", reason)
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = r.Hub.Drain(dctx)
		cancel()
		return result.Errored, reason
	}
}

// deadlineNear reports whether ctx's deadline is less than a second
// away, or past.
func deadlineNear(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Until(dl) < time.Second
}

// returned ends a pack whose call returned: it takes every event the pack
// sent (up to lastSeq) into its slot's tree, then, since nothing the
// process does from here on is part of the record, kills its process
// group at once and reaps it off the caller's path.
func (r *Runner) returned(pack Pack, slot int, lastSeq uint64, tlog hclog.Logger) {
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if werr := r.Hub.WaitTask(wctx, slot, lastSeq); werr != nil {
		tlog.Error("not every result event arrived", "last_seq", lastSeq, "error", werr)
	}
	cancel()
	pack.KillNow()
	r.reap.Add(1)
	go func() {
		defer r.reap.Done()
		pack.Kill()
	}()
}
