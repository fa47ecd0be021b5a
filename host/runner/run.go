package runner

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/host/schedule"
	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/testfault"
	"github.com/taskhost/taskhost/sdk/result"
)

// Options are the settings of one run. Zero values of optional fields are
// fine.
type Options struct {
	// RunsDir is where the run directory is made; "" means "runs".
	RunsDir string
	// Out receives a line as each task starts and ends; nil discards them.
	Out io.Writer
	// Cmdline is recorded in results.json.
	Cmdline string
	// Events, if set, is called with each event of the run as it happens,
	// from several goroutines (one at a time).
	Events func(Event)
	// Faults, for taskhost's own tests of reconnection only, make the
	// hub drop connections; production leaves it zero.
	Faults testfault.Faults
	// Grace is how long a task that must stop (timeout, cancellation) has
	// to return before its process group is killed; 0 means the jobfile's
	// grace, or DefaultGrace.
	Grace time.Duration
	// Debugging picks a task to run under a debugger, and one to talk to
	// the terminal.
	Debugging Debugging
	// Group, a group's name or id, shares the run directory with that
	// group's members, read-only; "" keeps it to the user who runs
	// taskhost (docs/reliability.md, "Who can read a run").
	Group string
	// StoreWait is how long the run's store (its disk) may not write
	// before the run stops; 0 means hub.DefaultStoreWait.
	StoreWait time.Duration
	// Agents, if set, opens the run to taskhost agents (agents.go); the
	// plan must have been made with plan.Options.Agents.
	Agents *AgentsOptions
	// Hub, if set, runs the run's hub on a NATS cluster rather than on a
	// server of its own (hub.ExternalConfig).
	Hub *hub.ExternalConfig
	// MaxFail, if above 0, stops starting tasks once that many tasks
	// have ended without passing; the tasks not started end Blocked, with
	// a reason naming MaxFailName (how the command line asked for it).
	MaxFail     int
	MaxFailName string
}

// DefaultGrace is the grace period when none is set.
const DefaultGrace = 5 * time.Second

// execution is one run of a plan, while it runs.
type execution struct {
	plan     *plan.Plan
	opts     Options
	dir      string
	log      hclog.Logger
	hub      *hub.Hub
	attempts *attempt.Runner    // runs each task attempt and hook call
	spare    *spares            // pack processes started ahead of their task
	sockets  string             // where the packs make their sockets
	sup      *launch.Supervisor // every process of the packs
	slots    atomic.Int64       // hub slots given out; retries take new ones
	out      io.Writer
	outM     sync.Mutex
	evM      sync.Mutex
	mask     *mask.Masker // the job's sensitive values (secrets.go)
	access   access       // who may read the run directory (access.go)

	tasks map[string]*taskRun
	hooks *hookRunner
}

type taskRun struct {
	index int
	task  *jobfile.Task
	rec   *results.Task
	// args are the task's arguments as JSON, its deferred ones included;
	// outputs what its last attempt set.
	args    []byte
	outputs map[string][]byte
	// started counts the attempts started, for the run's events (under
	// evM).
	started int
}

// Execute runs the plan to its end and writes the run directory. It returns
// the record it wrote; an error means the run could not be made at all (no
// run directory, or no hub), never that a task failed. Cancelling ctx
// aborts the tasks still running; their results are still written.
func Execute(ctx context.Context, plan *plan.Plan, opts Options) (*results.File, error) {
	return execute(ctx, plan, opts, nil)
}

// execute is Execute with the packs started by starter; nil starts their
// binaries.
func execute(ctx context.Context, plan *plan.Plan, opts Options, starter attempt.Starter) (*results.File, error) {
	if opts.RunsDir == "" {
		opts.RunsDir = "runs"
	}
	if opts.Grace == 0 {
		opts.Grace = plan.Job.Grace
	}
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	r := &execution{plan: plan, opts: opts, out: opts.Out, tasks: map[string]*taskRun{}, mask: mask.New(plan.Job.SensitiveValues()...)}
	if starter == nil {
		starter = packStarter{r}
	}
	if r.out == nil {
		r.out = io.Discard
	}
	job := plan.Job
	start := time.Now()
	acc, err := newAccess(opts.Group)
	if err != nil {
		return nil, err
	}
	r.access = acc
	dir, err := makeRunDir(opts.RunsDir, job.Name, start, acc)
	if err != nil {
		return nil, err
	}
	r.dir = dir
	logFile, err := acc.create(filepath.Join(dir, "job.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	removed := false // the run directory, of a run refused before it began
	defer func() {
		if !removed {
			r.tighten() // last: what the packs wrote in the run directory
		}
	}()
	jobLog := &watchedWriter{w: logFile}
	r.log = hclog.New(&hclog.LoggerOptions{Name: "job", Level: hclog.Debug, Output: r.mask.Writer(jobLog)})
	room := keepReserve(dir, r.log)
	defer room.release()
	r.log.Info("run started", "job", job.Name, "jobfile", job.File, "rundir", dir)
	for _, w := range Warnings(plan, opts) {
		r.log.Warn(w)
	}
	if err := acc.writeFile(filepath.Join(dir, "jobfile.hcl"), job.RedactedSource()); err != nil {
		return nil, err
	}

	// The packs' sockets (each in a private directory go-plugin makes) and
	// the state server's go in a directory of the run's own: short paths
	// (a socket's is limited to 108 bytes), and nothing left in the
	// temporary directory.
	// It is made in $PLUGIN_UNIX_SOCKET_DIR if set, else in $TMPDIR, as
	// taskhost doctor checks.
	sockets, err := makeSocketDir(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"))
	if err != nil {
		return nil, fmt.Errorf("socket directory: %w", err)
	}
	defer removeAtEnd(sockets)()
	r.log.Debug("packs' socket directory", "sockets", sockets)
	r.sockets = sockets
	// A store that does not write again in time stops the run.
	ctx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	// Every process of the packs, descendants that left the pack's process
	// group included, is killed when its task ends, and what is left when
	// the run ends.
	r.sup = launch.NewSupervisor(r.log.Named("procs"))
	defer abortAtQuit(r.sup)()
	defer r.sup.Close()
	if cg, why := r.sup.Cgroup(); cg != "" {
		r.log.Info("process containment", "cgroup", cg)
	} else {
		r.log.Info("process containment", "cgroup", "none", "reason", why)
	}
	hcfg := hub.Config{StoreDir: filepath.Join(dir, "hub"), Logger: r.log.Named("hub"),
		StateSocket: filepath.Join(sockets, "state.sock"),
		Faults:      opts.Faults, Mask: r.mask,
		OnStore: r.onStore(stopRun), StoreWait: opts.StoreWait, Limits: hubLimits(job)}
	if opts.Agents != nil {
		hcfg.Agents = hubAgents(plan, opts.Agents)
	}
	hcfg.External = opts.Hub
	if opts.Events != nil {
		steps := &stepClock{}
		hcfg.OnEvent = func(task string, ev report.Event) {
			if e, ok := steps.fromReport(task, ev); ok {
				r.event(e)
			}
		}
	}
	h, err := hub.Start(hcfg)
	if err != nil {
		r.log.Error("hub did not start", "error", err)
		return nil, err
	}
	defer h.Close()
	r.hub = h
	if opts.Agents != nil {
		if opts.Hub != nil {
			r.log.Info("hub on the cluster admits agents", "urls", opts.Hub.URLs, "classes", len(plan.Classes))
		} else {
			r.log.Info("hub listening for agents", "listen", opts.Agents.Listen)
		}
		agents, logs, err := r.startAgents(ctx)
		if err != nil {
			var pe *PlacementError
			if errors.As(err, &pe) {
				// Nothing ran: no run to keep.
				h.Close()
				removed = true
				os.RemoveAll(dir)
			}
			return nil, err
		}
		if agents != nil {
			defer logs.Close()
			defer agents.Close()
			starter = placedStarter{r: r, local: starter, remote: agents}
		}
	}
	r.attempts = &attempt.Runner{Starter: starter, Hub: h.Attempts(), Log: r.log, RunDir: dir}
	failed := h.WriteFailed
	jobLog.failed.Store(&failed)
	r.log.Info("hub started", "url", h.URL())
	r.event(Event{Type: EventJobStarted, Time: start, Name: job.Name, RunDir: dir})
	if err := r.seedState(); err != nil {
		r.log.Error("shared state not seeded", "error", err)
		return nil, err
	}

	sum := sha256.Sum256(job.RedactedSource())
	file := &results.File{Version: results.SchemaVersion, Report: results.Report{
		ID: filepath.Base(dir), Name: job.Name, StartTime: start,
		Cmdline: opts.Cmdline, Jobfile: job.File, JobfileSHA256: hex.EncodeToString(sum[:]),
		Host: hostname(), Submitter: submitter(), RunDir: dir, Variables: variables(job),
	}}
	var sched []schedule.Task
	r.slots.Store(int64(len(job.Tasks)))
	limits := map[string]int{}
	for _, p := range job.Packs {
		if p.MaxParallel > 0 {
			limits[p.Name] = p.MaxParallel
		}
	}
	left := map[string]int{} // the attempts the host will start, for its spares
	for _, t := range job.Tasks {
		if plan.PackErrors[t.Pack] == nil && plan.ClassOf[t.ID] == "" {
			left[t.Pack]++
		}
	}
	for i, t := range job.Tasks {
		rec := &results.Task{ID: t.ID, Pack: t.Pack, Task: t.Task, Sections: []*report.Node{}}
		file.Report.Tasks = append(file.Report.Tasks, rec)
		r.tasks[t.ID] = &taskRun{index: i + 1, task: t, rec: rec}
		sched = append(sched, schedule.Task{ID: t.ID, DependsOn: t.DependsOn, Group: t.Pack})
	}
	// The stream keeps what is needed to rebuild the run if the host dies.
	r.note(hub.Note{Kind: noteJob, Data: mustJSON(file)})

	if job.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, job.Timeout, fmt.Errorf("job timed out after %s", job.Timeout))
		defer cancel()
	}
	r.spare = newSpares(ctx, r.log, left)
	r.hooks = newHookRunner(r, file)
	if reason := r.preJob(ctx); reason != "" {
		r.blockAll(reason)
		sched = nil
	}
	maxPar := job.MaxParallel
	if maxPar == 0 {
		maxPar = DefaultMaxParallel()
	}
	schedule.Run(ctx, sched, schedule.Config{
		MaxParallel: maxPar,
		GroupLimits: limits,
		MaxFail:     r.opts.MaxFail,
		MaxFailName: r.opts.MaxFailName,
		Run: func(ctx context.Context, id string) result.Result {
			tr := r.tasks[id]
			r.runTask(ctx, tr)
			return tr.rec.Result.Value
		},
		NotRun: func(id string, res result.Result, reason string) {
			tr := r.tasks[id]
			tr.rec.Result = report.Outcome{Value: res, Reason: reason}
			r.hooks.taskEnded(id, tr.rec.Result)
			r.note(hub.Note{Kind: noteTaskEnded, Task: id, Index: tr.index, Data: mustJSON(tr.rec)})
			r.log.Info("task not started", "task", id, "result", res, "reason", reason)
			r.event(Event{Type: EventTaskFinished, Time: time.Now(), Task: id, Result: res, Reason: reason})
			r.printf("%s %-8s %s", id, strings.ToUpper(res.String()), reason)
		},
	})

	r.postJob(ctx)
	r.spare.close()
	r.attempts.Wait()
	r.sup.Close()
	// Nothing of the tasks writes any more: the room kept is for the
	// record, and for the store if the disk filled.
	room.release()
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.WaitStore(dctx); err != nil {
		r.log.Warn("the run's store does not write", "error", err)
	}
	if err := h.Drain(dctx); err != nil {
		r.log.Warn("not every stored event was read", "error", err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	if st, err := h.State(sctx); err != nil {
		r.log.Warn("final shared state not read", "error", err)
	} else if len(st) > 0 {
		file.Report.State = r.maskState(st)
	}
	scancel()
	for _, rec := range file.Report.Tasks {
		rec.Finish()
	}
	file.Report.StopTime = time.Now()
	file.Report.Finish()
	if err := results.Write(filepath.Join(dir, "results.json"), file); err != nil {
		r.log.Error("results.json not written", "error", err)
		return file, fmt.Errorf("write results: %w", err)
	}
	r.writeReports(file)
	r.event(Event{Type: EventJobFinished, Time: file.Report.StopTime, Name: job.Name, Result: file.Report.Result,
		Summary: &file.Report.Summary, RunDir: dir})
	r.log.Info("run ended", "result", file.Report.Result, "runtime", file.Report.Runtime,
		"dropped_connections", h.Drops(), "peak_rss_kb", peakRSSKB())
	return file, nil
}

// hubLimits are the jobfile's limits on what tasks send.
func hubLimits(job *jobfile.Job) hub.Limits {
	return hub.Limits{RunBytes: job.MaxRunBytes, TaskBytes: job.MaxTaskBytes, TaskEvents: job.MaxTaskEvents, EventBytes: job.MaxEventBytes,
		StateBytes: job.MaxStateBytes}
}

// DefaultMaxParallel is the limit on tasks at once when the jobfile sets
// none: twice the number of CPUs, at least 4.
func DefaultMaxParallel() int { return max(4, 2*runtime.NumCPU()) }

// seedState puts the jobfile's state block into the run's shared state.
func (r *execution) seedState() error {
	if len(r.plan.Job.State) == 0 {
		return nil
	}
	values := map[string]json.RawMessage{}
	for k, v := range r.plan.Job.State {
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return fmt.Errorf("state %q: %w", k, err)
		}
		values[k] = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.hub.SeedState(ctx, values)
}

// Kinds of the notes the runner keeps in the hub's stream.
const (
	noteJob         = "job"
	noteTaskStarted = "task_started"
	noteTaskEnded   = "task_ended"
)

// note stores n in the hub's stream; a note that cannot be stored only
// weakens recovery, so it is logged and the run goes on.
func (r *execution) note(n hub.Note) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.hub.Note(ctx, n); err != nil {
		r.log.Warn("note not stored", "kind", n.Kind, "task", n.Task, "error", err)
	}
}

// taskHeader is a task's record without its sections (which the stream
// has as events).
func taskHeader(t *results.Task) *results.Task {
	h := *t
	h.Sections = nil
	return &h
}

// mustJSON encodes a note's data. What the tasks sent is checked before it
// gets into a record, but a note that does not encode says so rather
// than stop the host.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": "not encoded: " + err.Error()})
	}
	return b
}

// event hands e to Options.Events, one at a time.
func (r *execution) event(e Event) {
	if r.opts.Events == nil {
		return
	}
	r.evM.Lock()
	defer r.evM.Unlock()
	e.Reason = r.mask.String(e.Reason)
	if tr := r.tasks[e.Task]; tr != nil && (e.Type == EventTaskStarted || e.Type == EventTaskFinished) {
		e.Pack = tr.task.Pack
		if e.Type == EventTaskStarted {
			tr.started++
		}
		e.Attempt = tr.started
		if e.Type == EventTaskFinished && tr.started > 0 {
			e.Duration = e.Time.Sub(tr.rec.StartTime).Seconds()
		}
	}
	r.opts.Events(e)
}

func (r *execution) printf(format string, args ...any) {
	r.outM.Lock()
	defer r.outM.Unlock()
	fmt.Fprintf(r.out, "%s %s\n", time.Now().Format("15:04:05"), r.mask.String(fmt.Sprintf(format, args...)))
}

// runTask runs one task in a pack process of its own and fills in its record.
func (r *execution) runTask(ctx context.Context, tr *taskRun) {
	t, rec := tr.task, tr.rec
	rec.StartTime = time.Now()
	defer func() {
		rec.StopTime = time.Now()
		if rec.Spool != nil && !r.mask.Empty() {
			// Masking may move steps' log lines: they are all in memory
			// for it.
			loadSpool(&rec.Spool, &rec.Sections)
		}
		r.maskRecord(rec)
		r.maskTaskLogs(rec)
		// What the task left in the shared state is in the run's record
		// before the task is, so that a task that ended finds its changes
		// there after a crash of the host.
		r.hub.EndTask(t.ID)
		r.note(hub.Note{Kind: noteTaskEnded, Task: t.ID, Index: tr.index, Data: mustJSON(taskHeader(rec))})
		if rec.Spool != nil {
			r.log.Info("task ended", "task", t.ID, "result", rec.Result.Value, "reason", rec.Result.Reason, "spooled_sections", rec.Spool.Len())
		} else {
			r.log.Info("task ended", "task", t.ID, "result", rec.Result.Value, "reason", rec.Result.Reason)
		}
		r.event(Event{Type: EventTaskFinished, Time: rec.StopTime, Task: t.ID, PID: rec.PID, Result: rec.Result.Value, Reason: rec.Result.Reason})
		line := fmt.Sprintf("%s %-8s in %s", t.ID, strings.ToUpper(rec.Result.Value.String()), rec.StopTime.Sub(rec.StartTime).Round(time.Millisecond))
		if rec.Result.Reason != "" {
			line += " (" + firstLine(rec.Result.Reason) + ")"
		}
		r.printf("%s", line)
	}()

	tdir := filepath.Join(r.dir, "tasks", t.ID)
	if err := r.access.mkdirAll(tdir); err != nil {
		rec.Result = report.Outcome{Value: result.Errored, Reason: err.Error()}
		return
	}
	// The task process writes its own log; the host adds to it only what
	// the pack writes to stderr before it runs the task, and its own
	// warnings, so the file is opened only if that happens.
	logf := &lazyAppend{path: filepath.Join(tdir, "task.log"), perm: r.access.fileMode()}
	defer logf.Close()
	out := &lineWriter{w: r.mask.Writer(logf)}
	defer out.Flush()
	rec.Logfile = filepath.Join("tasks", t.ID, "task.log")
	defer r.postTask(ctx, tr)
	if reason := r.preTask(ctx, tr); reason != "" {
		rec.Result = report.Outcome{Value: result.Blocked, Reason: reason}
		return
	}

	// Args that use other tasks' outputs are known only now.
	args, err := r.taskArgs(t)
	if err != nil {
		tlog := hclog.New(&hclog.LoggerOptions{Name: "taskhost", Level: hclog.Info, Output: out})
		tlog.Error("task not started", "reason", err)
		rec.Result = report.Outcome{Value: result.Errored, Reason: err.Error()}
		return
	}
	tr.args = args

	// A task that does not pass runs again, up to its retries; the last
	// attempt is the task's record, and every attempt is listed.
	var attempts []*results.Attempt
	for n := 1; ; n++ {
		slot := tr.index
		if n > 1 {
			slot = int(r.slots.Add(1))
			if r.plan.ClassOf[t.ID] == "" {
				r.spare.more(t.Pack)
			}
		}
		a := r.attempt(ctx, tr, n, slot, tdir, out)
		attempts = append(attempts, a)
		if a.Result.Value.Success() || n > t.Retries || ctx.Err() != nil {
			break
		}
		r.log.Info("task will run again", "task", t.ID, "attempt", n, "result", a.Result.Value, "reason", a.Result.Reason)
		r.printf("%s %-8s on attempt %d of %d; running it again", t.ID, strings.ToUpper(a.Result.Value.String()), n, t.Retries+1)
	}
	if len(attempts) > 1 {
		// Every attempt is written as a whole (results.Attempt has no
		// spool): a task that ran again has its attempts in memory.
		for _, a := range attempts {
			loadSpool(&a.Spool, &a.Sections)
		}
	}
	last := attempts[len(attempts)-1]
	rec.PID, rec.Agent, rec.Spool, rec.Sections, rec.Logs, rec.Result = last.PID, last.Agent, last.Spool, last.Sections, last.Logs, last.Result
	rec.Outputs = rawOutputs(tr.outputs)
	if len(attempts) > 1 {
		rec.Attempts = attempts
		if last.Result.Value.Success() {
			// Passed on a retry: pyATS's Passx.
			rec.Result = report.Outcome{Value: result.Passx, Data: last.Result.Data,
				Reason: fmt.Sprintf("passed on attempt %d of %d", len(attempts), t.Retries+1)}
		}
	}
}

// attempt runs the task once, in a pack process of its own that reports
// into hub slot, and returns the record of that attempt.
func (r *execution) attempt(ctx context.Context, tr *taskRun, n, slot int, tdir string, out io.Writer) *results.Attempt {
	t, rec := tr.task, tr.rec
	a := &results.Attempt{Attempt: n, StartTime: time.Now(), Sections: []*report.Node{}}
	tr.outputs = nil
	defer func() { a.StopTime = time.Now() }()

	if perr := r.plan.PackErrors[t.Pack]; perr != nil {
		a.Result = report.Outcome{Value: result.Errored, Reason: perr.Error()}
		tlog := hclog.New(&hclog.LoggerOptions{Name: "taskhost", Level: hclog.Info, Output: out})
		tlog.Error("pack cannot run", "error", perr)
		return a
	}
	grace := r.opts.Grace
	if t.Grace > 0 {
		grace = t.Grace
	}
	if r.plan.ClassOf[t.ID] != "" {
		// On an agent, the task's task.log is shipped into the run
		// directory at the offsets the agent wrote it at: the host's own
		// lines about the attempt wait until the attempt is over, and
		// then follow the agent's.
		held := &bytes.Buffer{}
		defer func() { _, _ = out.Write(held.Bytes()) }()
		out = held
	}
	o := attempt.Options{Slot: slot, RecordDir: filepath.Join("tasks", t.ID), Timeout: t.Timeout, Grace: grace, Out: out,
		Started: func(pid int, agent string) {
			a.PID, a.Agent = pid, agent
			rec.PID, rec.Agent = pid, agent
			r.note(hub.Note{Kind: noteTaskStarted, Task: t.ID, Index: tr.index, Slot: slot, Data: mustJSON(taskHeader(rec))})
			if agent == "" {
				r.log.Info("task started", "task", t.ID, "pack", t.Pack, "pid", pid, "attempt", n)
				r.printf("%s started (pack %s, pid %d)", t.ID, t.Pack, pid)
			} else {
				r.log.Info("task started", "task", t.ID, "pack", t.Pack, "agent", agent, "pid", pid, "attempt", n)
				r.printf("%s started (pack %s, agent %s, pid %d)", t.ID, t.Pack, agent, pid)
			}
			r.event(Event{Type: EventTaskStarted, Time: a.StartTime, Task: t.ID, PID: pid, Agent: agent})
		}}
	if t.ID == r.opts.Debugging.Debug {
		o.Timeout = 0 // the debugged task waits for the user
	}
	got := r.attempts.Run(ctx, attempt.Call{
		Pack: t.Pack, Task: t.Task, Args: tr.args, RunID: filepath.Base(r.dir), ID: t.ID, Attempt: n, LogDir: tdir,
		Interactive: t.ID == r.opts.Debugging.Interactive, Sensitive: r.mask.In(tr.args),
	}, o)
	tr.outputs = got.Outputs
	if got.Sections != nil || got.Spool != nil {
		a.Spool, a.Sections = got.Spool, got.Sections
	}
	a.Logs, a.Agent = got.Logs, got.Agent
	a.Result = report.Outcome{Value: got.Result, Reason: got.Reason, Data: got.Data}
	return a
}

// loadSpool reads the sections of *spool back into memory, before
// *sections, and drops the spool.
func loadSpool(spool *report.Spool, sections *[]*report.Node) {
	if *spool == nil {
		return
	}
	all, err := report.All(*spool, *sections)
	if err == nil {
		*spool, *sections = nil, all
	}
}

// makeRunDir makes <runs>/<job>.<YYYYmmdd-HHMMSS>, with a suffix if that
// exists already, with the mode and group acc says.
func makeRunDir(runs, job string, at time.Time, acc access) (string, error) {
	if err := acc.makeRuns(runs); err != nil {
		return "", err
	}
	base := filepath.Join(runs, job+"."+at.Format("20060102-150405"))
	dir := base
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("run directory: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	if err := acc.own(dir); err != nil {
		os.Remove(dir)
		return "", err
	}
	if err := acc.mkdirAll(filepath.Join(dir, "tasks")); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return abs, nil
}

// lazyAppend appends to a file that it opens on the first write.
type lazyAppend struct {
	path string
	perm os.FileMode
	f    *os.File
	err  error
}

func (l *lazyAppend) Write(p []byte) (int, error) {
	if l.f == nil && l.err == nil {
		l.f, l.err = os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, l.perm)
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.f.Write(p)
}

func (l *lazyAppend) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// lineWriter writes whole lines to w, one Write each, so that lines from
// several writers to one file (the task process appends to it too) do not
// mix; a line without its newline waits for it.
type lineWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if i := bytes.LastIndexByte(l.buf, '\n'); i >= 0 {
		_, err := l.w.Write(l.buf[:i+1])
		l.buf = append(l.buf[:0], l.buf[i+1:]...)
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes what is left of an unfinished line.
func (l *lineWriter) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		_, _ = l.w.Write(append(l.buf, '\n'))
		l.buf = l.buf[:0]
	}
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

func submitter() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func variables(job *jobfile.Job) map[string]any {
	out := map[string]any{}
	for name, v := range job.Variables {
		if job.Sensitive[name] {
			out[name] = jobfile.Redacted
			continue
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			continue
		}
		out[name] = json.RawMessage(b)
	}
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// peakRSSKB is this process's peak resident set size, in KiB: VmHWM from
// /proc (getrusage's ru_maxrss would count the RSS of the process that
// started the host, which exec keeps).
func peakRSSKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}
