package sdktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/internal/packwire"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/packserver/packconn"
	"github.com/taskhost/taskhost/sdk/result"
)

// Args are a task's arguments by name, as a jobfile's args object gives
// them: {"host": "localhost", "count": 3, "wait": "2s"}.
type Args map[string]any

// Config configures a Harness; the zero value is fine.
type Config struct {
	// State is the run's initial shared state, as a jobfile's state
	// block sets it; each value is encoded as JSON.
	State map[string]any
	// Timeout bounds each Run; 0 means one minute.
	Timeout time.Duration
}

// Harness runs the tasks of one pack. Make one with New; it is torn down
// when the test ends. A Harness is safe for concurrent use.
type Harness struct {
	t       testing.TB
	set     *sdk.Set
	hub     *hub.Hub
	cfg     Config
	runID   string
	logDir  string
	mu      sync.Mutex
	n       int
	schema  *jobfile.PackSchema
	descErr error
}

// New starts a hub for set's tasks. It fails the test if the hub cannot
// start or the pack's description is wrong.
func New(t testing.TB, set *sdk.Set, cfg ...Config) *Harness {
	t.Helper()
	h := &Harness{t: t, set: set, runID: "sdktest", logDir: t.TempDir()}
	if len(cfg) > 0 {
		h.cfg = cfg[0]
	}
	if h.cfg.Timeout == 0 {
		h.cfg.Timeout = time.Minute
	}
	hb, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("sdktest: start the hub: %v", err)
	}
	h.hub = hb
	t.Cleanup(hb.Close)
	if len(h.cfg.State) > 0 {
		seed := map[string]json.RawMessage{}
		for k, v := range h.cfg.State {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("sdktest: state %q: %v", k, err)
			}
			seed[k] = b
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := hb.SeedState(ctx, seed); err != nil {
			t.Fatalf("sdktest: seed the state: %v", err)
		}
	}
	d := h.Describe()
	h.schema, h.descErr = packSchema(d)
	if h.descErr != nil {
		t.Fatalf("sdktest: pack %s describes itself wrongly: %v", d.Name, h.descErr)
	}
	return h
}

// connect serves the pack in this process over real gRPC, logging to
// logger; close the connection when done.
func (h *Harness) connect(logger hclog.Logger) *packconn.Conn {
	h.t.Helper()
	return packconn.Connect(h.t, pack.FromSet(h.set), logger)
}

// Describe asks the pack for its description over gRPC.
func (h *Harness) Describe() sdk.Description {
	h.t.Helper()
	c := h.connect(hclog.NewNullLogger())
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := c.Describe(ctx)
	if err != nil {
		h.t.Fatalf("sdktest: describe: %v", err)
	}
	return d
}

// CheckArgs checks args against the task's schema as the host checks a
// jobfile's, and returns the JSON the task would be sent, or the host's
// error messages.
func (h *Harness) CheckArgs(task string, args Args) ([]byte, error) {
	if args == nil {
		args = Args{}
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	ty, err := ctyjson.ImpliedType(raw)
	if err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	v, err := ctyjson.Unmarshal(raw, ty)
	if err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	vals := map[string]cty.Value{}
	if v.LengthInt() > 0 {
		vals = v.AsValueMap()
	}
	job := &jobfile.Job{Tasks: []*jobfile.Task{{
		ID: "sdktest", Pack: "pack", Task: task, Args: vals, ArgRanges: map[string]hcl.Range{},
	}}}
	enc, diags := jobfile.CheckArgs(job, map[string]*jobfile.PackSchema{"pack": h.schema})
	if diags.HasErrors() {
		var msgs []string
		for _, d := range diags {
			if d.Severity == hcl.DiagError {
				msgs = append(msgs, d.Summary+": "+d.Detail)
			}
		}
		return nil, fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return enc["sdktest"], nil
}

// Run runs the task with args, checked as the host checks them (a bad
// argument fails the test), and returns what it did.
func (h *Harness) Run(task string, args Args) *Run {
	h.t.Helper()
	return h.RunContext(context.Background(), task, args)
}

// RunContext is Run with a context: cancelling it cancels the task's
// T.Context, as a timeout or a stopped run does.
func (h *Harness) RunContext(ctx context.Context, task string, args Args) *Run {
	h.t.Helper()
	argsJSON, err := h.CheckArgs(task, args)
	if err != nil {
		h.t.Fatalf("sdktest: task %s: %v", task, err)
	}
	h.mu.Lock()
	h.n++
	slot := h.n
	h.mu.Unlock()
	taskID := fmt.Sprintf("%s-%d", task, slot)

	var logs syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &logs})
	c := h.connect(logger)
	defer c.Close()

	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	access := h.hub.AddTask(taskID, slot, "")
	resp, err := c.Run(ctx, packconn.Run{
		Task: task, ArgsJSON: argsJSON, RunID: h.runID, TaskID: taskID, Attempt: 1,
		Hub: packwire.Hub(access), Deadline: dl,
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	var res result.Result
	reason := resp.Reason
	switch {
	case err == nil:
		if err := h.hub.WaitTask(wctx, slot, resp.LastSeq); err != nil {
			h.t.Fatalf("sdktest: %s: not every result event reached the hub: %v", task, err)
		}
		var perr error
		if res, perr = result.Parse(resp.Result); perr != nil {
			h.t.Fatalf("sdktest: %s: bad result %q: %v", task, resp.Result, perr)
		}
	case ctx.Err() != nil:
		// Cancelled or timed out, as a host stops a task: it has a grace
		// period to return, and is Aborted.
		_ = h.hub.WaitEnded(wctx, slot)
		res, reason = result.Aborted, context.Cause(ctx).Error()
	default:
		h.t.Fatalf("sdktest: run %s: %v", task, err)
	}
	run := &Run{Task: task, ID: taskID, Reason: reason}
	_ = h.hub.Tree(slot, func(tree *report.Tree) {
		if err != nil {
			tree.CloseOpen(res, reason, time.Now())
		} else {
			tree.CloseOpen(result.Errored, "step never ended", time.Now())
			res = result.Rollup(res, tree.Result())
		}
		run.Data = tree.Own.Data
		run.Sections = nodes(tree.Sections)
		run.Logs = tree.Logs
	})
	run.Result = res
	run.Log = logs.String()
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	state, err := h.hub.State(sctx)
	if err != nil {
		h.t.Fatalf("sdktest: read the shared state: %v", err)
	}
	run.State = state
	return run
}

// Run is what one run of a task did.
type Run struct {
	// Task is the task's name, ID the task id it ran as.
	Task, ID string
	// Result is the task's result, rolled up with its sections' and
	// steps' as the host does; Reason says why when it did not pass.
	Result sdk.Result
	Reason string
	// Data is what the task set with T.SetData outside any step.
	Data json.RawMessage
	// Sections are its top-level sections and steps.
	Sections []*Node
	// Log is what the task logged (T.Log, T.Logger), as hclog lines.
	Log string
	// Logs are the log files its child processes reported (none unless
	// a child made one itself: under sdktest a task has no log directory).
	Logs []string
	// State is the run's shared state after the task, each value as JSON.
	State map[string]json.RawMessage
}

// Node is a section or step of a result tree.
type Node struct {
	// Type is "section" or "step".
	Type     string
	Name     string
	Result   sdk.Result
	Reason   string
	Data     json.RawMessage
	Sections []*Node
}

func nodes(ns []*report.Node) []*Node {
	var out []*Node
	for _, n := range ns {
		out = append(out, &Node{
			Type: n.Type, Name: n.Name, Result: n.Result.Value, Reason: n.Result.Reason,
			Data: n.Result.Data, Sections: nodes(n.Sections),
		})
	}
	return out
}

// Find returns the node at the path of names ("setup", "connect"), or nil.
func (r *Run) Find(path ...string) *Node {
	level := r.Sections
	var n *Node
	for _, name := range path {
		n = nil
		for _, c := range level {
			if c.Name == name {
				n = c
				break
			}
		}
		if n == nil {
			return nil
		}
		level = n.Sections
	}
	return n
}

// Text is the result tree as `PACK run` prints it, for failure messages.
func (r *Run) Text() string {
	var b bytes.Buffer
	report.WriteText(&b, r.Task, r.Result, r.Reason, toReport(r.Sections))
	return b.String()
}

func toReport(ns []*Node) []*report.Node {
	var out []*report.Node
	for _, n := range ns {
		out = append(out, &report.Node{
			Type: n.Type, Name: n.Name, Result: report.Outcome{Value: n.Result, Reason: n.Reason, Data: n.Data},
			Sections: toReport(n.Sections),
		})
	}
	return out
}

// StateValue decodes the shared state's key into v; it reports whether
// the key is set.
func (r *Run) StateValue(key string, v any) (bool, error) {
	raw, ok := r.State[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func packSchema(d sdk.Description) (*jobfile.PackSchema, error) {
	s := &jobfile.PackSchema{Name: d.Name}
	for _, t := range d.Tasks {
		ts := jobfile.TaskSchema{Name: t.Name}
		for _, a := range t.Args {
			ty, err := ctyjson.UnmarshalType(a.Type)
			if err != nil {
				return nil, fmt.Errorf("task %s, argument %s: bad type %s: %w", t.Name, a.Name, a.Type, err)
			}
			ts.Args = append(ts.Args, jobfile.ArgSchema{Name: a.Name, Type: ty, Required: a.Required})
		}
		s.Tasks = append(s.Tasks, ts)
	}
	return s, nil
}
