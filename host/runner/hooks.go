package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// The stages at which hooks run (sdk.Stage on the pack's side).
const (
	StagePreJob   = "pre_job"
	StagePreTask  = "pre_task"
	StagePostTask = "post_task"
	StagePostJob  = "post_job"
)

// hookRunner is what the run knows of its hooks while it runs.
type hookRunner struct {
	r      *execution
	file   *results.File
	hooks  []*jobfile.Hook // in pre-stage order
	stages map[string][]string

	mu    sync.Mutex
	ended map[string]report.Outcome // tasks ended so far
	calls []*results.HookRun
}

func newHookRunner(r *execution, file *results.File) *hookRunner {
	hr := &hookRunner{r: r, file: file, hooks: r.plan.Job.HooksInOrder(), stages: map[string][]string{}, ended: map[string]report.Outcome{}}
	for _, h := range hr.hooks {
		if hs := r.plan.Packs[h.Pack].Hook(h.Hook); hs != nil {
			for _, s := range hs.Stages {
				hr.stages[h.Name] = append(hr.stages[h.Name], string(s))
			}
		}
	}
	return hr
}

// at lists the hooks that run at stage, in the order they run.
func (hr *hookRunner) at(stage string) []*jobfile.Hook {
	var out []*jobfile.Hook
	for _, h := range hr.hooks {
		if slices.Contains(hr.stages[h.Name], stage) {
			out = append(out, h)
		}
	}
	if strings.HasPrefix(stage, "post_") {
		slices.Reverse(out)
	}
	return out
}

// taskEnded notes a task's result for the summaries handed to hooks.
func (hr *hookRunner) taskEnded(id string, o report.Outcome) {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	hr.ended[id] = o
}

// summary is the run's results so far, as a hook receives them.
func (hr *hookRunner) summary() []byte {
	out := result.RunSummary{Job: hr.r.plan.Job.Name, RunID: filepath.Base(hr.r.dir), RunDir: hr.r.dir, Tasks: []result.TaskSummary{}}
	hr.mu.Lock()
	defer hr.mu.Unlock()
	var rs []result.Result
	for _, t := range hr.r.plan.Job.Tasks {
		ts := result.TaskSummary{ID: t.ID, Pack: t.Pack, Task: t.Task}
		if o, ok := hr.ended[t.ID]; ok {
			ts.Result, ts.Reason = o.Value, hr.r.mask.String(o.Reason)
			rs = append(rs, o.Value)
		}
		out.Tasks = append(out.Tasks, ts)
	}
	out.Summary = result.Count(rs)
	out.Result = result.Rollup(rs...).Or(result.Passed)
	for _, c := range hr.calls {
		out.Hooks = append(out.Hooks, result.HookSummary{Name: c.Name, Stage: result.Stage(c.Stage), Task: c.Task, Result: c.Result.Value, Reason: c.Result.Reason})
	}
	return mustJSON(out)
}

// preJob runs the pre_job hooks in order, and returns why the job must
// not run ("" when it may): the first hook that failed.
func (r *execution) preJob(ctx context.Context) string {
	return r.hooks.pre(ctx, StagePreJob, "")
}

// blockAll records every task as Blocked for reason, as the scheduler
// does for a task it does not start, and returns no tasks to schedule.
func (r *execution) blockAll(reason string) {
	for _, t := range r.plan.Job.Tasks {
		tr := r.tasks[t.ID]
		tr.rec.Result = report.Outcome{Value: result.Blocked, Reason: reason}
		r.hooks.taskEnded(t.ID, tr.rec.Result)
		r.note(hub.Note{Kind: noteTaskEnded, Task: t.ID, Index: tr.index, Data: mustJSON(tr.rec)})
		r.log.Info("task not started", "task", t.ID, "result", result.Blocked, "reason", reason)
		r.event(Event{Type: EventTaskFinished, Time: time.Now(), Task: t.ID, Result: result.Blocked, Reason: reason})
		r.printf("%s %-8s %s", t.ID, "BLOCKED", reason)
	}
}

// preTask runs the pre_task hooks of a task in order, and returns why the
// task must not run ("" when it may).
func (r *execution) preTask(ctx context.Context, tr *taskRun) string {
	return r.hooks.pre(ctx, StagePreTask, tr.task.ID)
}

// postTask runs the post_task hooks of a task in reverse order, after
// noting its result for the summaries.
func (r *execution) postTask(ctx context.Context, tr *taskRun) {
	r.hooks.taskEnded(tr.task.ID, tr.rec.Result)
	r.hooks.post(ctx, StagePostTask, tr.task.ID)
}

// postJob runs the post_job hooks in reverse order, and puts every hook
// call into the run's record.
func (r *execution) postJob(ctx context.Context) {
	r.hooks.post(ctx, StagePostJob, "")
	r.hooks.mu.Lock()
	r.hooks.file.Report.Hooks = r.hooks.calls
	r.hooks.mu.Unlock()
}

func (hr *hookRunner) pre(ctx context.Context, stage, task string) string {
	if stage == StagePreJob {
		// A hook whose pack cannot run fails before anything else.
		for _, h := range hr.hooks {
			if perr := hr.r.plan.PackErrors[h.Pack]; perr != nil {
				hr.record(&results.HookRun{Name: h.Name, Pack: h.Pack, Hook: h.Hook, Stage: stage,
					StartTime: time.Now(), StopTime: time.Now(), Sections: []*report.Node{},
					Result: report.Outcome{Value: result.Errored, Reason: "pack cannot run: " + perr.Error()}})
				return fmt.Sprintf("hook %s cannot run: %v", h.Name, perr)
			}
		}
	}
	for _, h := range hr.at(stage) {
		if ctx.Err() != nil {
			return ""
		}
		c := hr.call(ctx, h, stage, task)
		if c.Failed() {
			return fmt.Sprintf("%s hook %s %s: %s", stage, h.Name, c.Result.Value, firstLine(c.Result.Reason))
		}
	}
	return ""
}

func (hr *hookRunner) post(ctx context.Context, stage, task string) {
	// Post stages run even when the run was stopped: they report on it.
	ctx = context.WithoutCancel(ctx)
	for _, h := range hr.at(stage) {
		hr.call(ctx, h, stage, task)
	}
}

func (hr *hookRunner) record(c *results.HookRun) {
	hr.mu.Lock()
	hr.calls = append(hr.calls, c)
	hr.mu.Unlock()
	line := fmt.Sprintf("hook %s %s", c.Name, c.Stage)
	if c.Task != "" {
		line += " of " + c.Task
	}
	line += fmt.Sprintf(" %s in %s", strings.ToUpper(c.Result.Value.String()), c.StopTime.Sub(c.StartTime).Round(time.Millisecond))
	if c.Result.Reason != "" {
		line += " (" + firstLine(c.Result.Reason) + ")"
	}
	hr.r.printf("%s", line)
	hr.r.log.Info("hook ended", "hook", c.Name, "stage", c.Stage, "task", c.Task, "result", c.Result.Value, "reason", c.Result.Reason)
}

// call runs one hook at one stage in a pack process of its own, as a task
// attempt runs, and records it.
func (hr *hookRunner) call(ctx context.Context, h *jobfile.Hook, stage, task string) *results.HookRun {
	r := hr.r
	id := h.Name + "." + stage
	if task != "" {
		id += "." + task
	}
	c := &results.HookRun{Name: h.Name, Pack: h.Pack, Hook: h.Hook, Stage: stage, Task: task, StartTime: time.Now(), Sections: []*report.Node{}}
	hdir := filepath.Join(r.dir, "hooks", id)
	defer func() {
		c.StopTime = time.Now()
		r.maskHook(hdir, c)
		hr.record(c)
	}()
	if err := r.access.mkdirAll(hdir); err != nil {
		c.Result = report.Outcome{Value: result.Errored, Reason: err.Error()}
		return c
	}
	c.Logfile = filepath.Join("hooks", id, "task.log")
	logf := &lazyAppend{path: filepath.Join(hdir, "task.log"), perm: r.access.fileMode()}
	defer logf.Close()
	out := &lineWriter{w: r.mask.Writer(logf)}
	defer out.Flush()
	got := r.attempts.Run(ctx, attempt.Call{
		Pack: h.Pack, Args: r.plan.HookArgs[h.Name], RunID: filepath.Base(r.dir), ID: id, Attempt: 1, LogDir: hdir,
		Sensitive: r.mask.In(r.plan.HookArgs[h.Name]),
		Hook:      &attempt.HookCall{Name: h.Hook, Stage: stage, TaskID: task, Results: hr.summary()},
	}, attempt.Options{Slot: int(r.slots.Add(1)), RecordDir: filepath.Join("hooks", id), Timeout: h.Timeout, Grace: r.opts.Grace, Out: out})
	c.PID = got.PID
	if got.Sections != nil || got.Spool != nil {
		c.Sections, _ = report.All(got.Spool, got.Sections)
	}
	c.Result = report.Outcome{Value: got.Result, Reason: got.Reason}
	return c
}
