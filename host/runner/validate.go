package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/proto/packv1"
)

// Plan is a jobfile checked against its packs and ready to run.
type Plan struct {
	Job *jobfile.Job
	// Packs holds each pack's description, by the jobfile's pack name.
	Packs map[string]*packv1.DescribeResponse
	// Args holds each task's checked arguments as a JSON object, by task id.
	Args map[string][]byte
	// Schemas holds each pack's schema, by the jobfile's pack name: the
	// argument types of a task's deferred args (those using other
	// tasks' outputs) are checked against it when the task starts.
	Schemas map[string]*jobfile.PackSchema
	// PackErrors holds, by pack name, why a pack could not be described
	// (Prepare only): its tasks end Errored with that reason, and the
	// others run.
	PackErrors map[string]error
	// HookArgs holds each hook's checked arguments as a JSON object, by
	// hook name.
	HookArgs map[string][]byte
}

// Validate loads the jobfile, starts each pack it names once to read its
// description, and checks every task's arguments against it. Every problem
// is a diagnostic; a nil Plan comes with errors.
func Validate(ctx context.Context, path string, vars map[string]string, opts ...PackOptions) (*Plan, hcl.Diagnostics) {
	return prepare(ctx, path, jobfile.Options{Vars: vars}, false, opts)
}

// ValidateWith is Validate with every source of variable values.
func ValidateWith(ctx context.Context, path string, jopts jobfile.Options, opts ...PackOptions) (*Plan, hcl.Diagnostics) {
	return prepare(ctx, path, jopts, false, opts)
}

// PrepareWith is Prepare with every source of variable values.
func PrepareWith(ctx context.Context, path string, jopts jobfile.Options, opts ...PackOptions) (*Plan, hcl.Diagnostics) {
	return prepare(ctx, path, jopts, true, opts)
}

// Prepare is Validate for a run: a pack that cannot be started or described
// does not stop the run; it is a warning, its tasks end Errored with the
// reason (Plan.PackErrors), and the others run.
func Prepare(ctx context.Context, path string, vars map[string]string, opts ...PackOptions) (*Plan, hcl.Diagnostics) {
	return prepare(ctx, path, jobfile.Options{Vars: vars}, true, opts)
}

func prepare(ctx context.Context, path string, jopts jobfile.Options, lenient bool, opts []PackOptions) (*Plan, hcl.Diagnostics) {
	job, diags := jobfile.LoadWith(path, jopts)
	if diags.HasErrors() {
		return nil, diags
	}
	// Installed packs are found, and every pack is checked against the
	// lock, before any pack starts: a mismatch stops the run.
	diags = append(diags, resolvePacks(job, opts)...)
	if diags.HasErrors() {
		return nil, diags
	}
	descs, ddiags := DescribePacks(ctx, job)
	packErrors := map[string]error{}
	for _, d := range ddiags {
		if lenient && d.Extra != nil {
			if pe, ok := d.Extra.(packError); ok {
				d.Severity = hcl.DiagWarning
				d.Detail += " Its tasks will end Errored; the others run."
				packErrors[pe.pack] = pe.err
			}
		}
		diags = append(diags, d)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	schemas := map[string]*jobfile.PackSchema{}
	for name, d := range descs {
		s, err := packSchema(d)
		if err != nil {
			p := job.Pack(name)
			return nil, append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Pack describes itself wrongly",
				Detail:   fmt.Sprintf("Pack %q (%s): %v.", name, p.Path, err),
				Subject:  p.DeclRange.Ptr(),
			})
		}
		schemas[name] = s
	}
	// Tasks of packs that cannot run are not checked: they will not run.
	checked := *job
	checked.Tasks = nil
	for _, t := range job.Tasks {
		if packErrors[t.Pack] == nil {
			checked.Tasks = append(checked.Tasks, t)
		}
	}
	args, adiags := jobfile.CheckArgs(&checked, schemas)
	diags = append(diags, adiags...)
	hookArgs, hdiags := checkHooks(job, descs)
	diags = append(diags, hdiags...)
	if diags.HasErrors() {
		return nil, diags
	}
	return &Plan{Job: job, Packs: descs, Args: args, Schemas: schemas, PackErrors: packErrors, HookArgs: hookArgs}, diags
}

// packError rides on a diagnostic about a pack that cannot be described.
type packError struct {
	pack string
	err  error
}

// DescribePacks starts each pack of the job, at the same time, and asks
// it to describe itself, unless the description of the same binary is in
// the cache (see SchemaCacheDir). A pack that cannot be started or
// described is a diagnostic on its pack block.
func DescribePacks(ctx context.Context, job *jobfile.Job) (map[string]*packv1.DescribeResponse, hcl.Diagnostics) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		out   = map[string]*packv1.DescribeResponse{}
		diags hcl.Diagnostics
	)
	// The packs started here are contained and their sockets placed as a
	// run's are (run.go).
	var base launch.Config
	if sockets, err := makeSocketDir(os.Getenv("PLUGIN_UNIX_SOCKET_DIR")); err == nil {
		defer removeAtEnd(sockets)()
		base.SocketDir = sockets
	}
	base.Supervisor = launch.NewSupervisor(nil)
	defer abortAtQuit(base.Supervisor)()
	defer base.Supervisor.Close()
	for _, p := range job.Packs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := base
			cfg.StartTimeout = p.StartTimeout
			d, err := describeCached(ctx, cfg, p.Path, p.SHA256)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Pack cannot be started",
					Detail:   fmt.Sprintf("Pack %q: %v.", p.Name, err),
					Subject:  p.DeclRange.Ptr(),
					Extra:    packError{p.Name, err},
				})
				return
			}
			out[p.Name] = d
		}()
	}
	wg.Wait()
	return out, diags
}

// Describe starts the pack at path, asks for its description, and stops it.
func Describe(ctx context.Context, path string, logger hclog.Logger) (*packv1.DescribeResponse, error) {
	return describe(ctx, launch.Config{Logger: logger}, path, nil)
}

// describe starts the pack at path as base says, asks for its
// description, and stops it.
func describe(ctx context.Context, base launch.Config, path string, sum []byte) (*packv1.DescribeResponse, error) {
	base.Path, base.SHA256, base.Environ = path, sum, packEnviron()
	proc, err := launch.Start(ctx, base)
	if err != nil {
		return nil, err
	}
	defer proc.Stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := proc.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe %s: %w", path, err)
	}
	return d, nil
}

func packSchema(d *packv1.DescribeResponse) (*jobfile.PackSchema, error) {
	s := &jobfile.PackSchema{Name: d.GetName()}
	for _, t := range d.GetTasks() {
		ts := jobfile.TaskSchema{Name: t.GetName()}
		for _, a := range t.GetArgs() {
			ty, err := ctyjson.UnmarshalType(a.GetTypeJson())
			if err != nil {
				return nil, fmt.Errorf("task %s, argument %s: bad type %s: %w", t.GetName(), a.GetName(), a.GetTypeJson(), err)
			}
			ts.Args = append(ts.Args, jobfile.ArgSchema{Name: a.GetName(), Type: ty, Required: a.GetRequired()})
		}
		for _, o := range t.GetOutputs() {
			ts.Outputs = append(ts.Outputs, o.GetName())
		}
		s.Tasks = append(s.Tasks, ts)
	}
	return s, nil
}

// DescriptionJSON turns a pack's description into the same JSON shape that
// `PACK describe` prints.
func DescriptionJSON(d *packv1.DescribeResponse) any {
	type arg struct {
		Name     string          `json:"name"`
		Type     json.RawMessage `json:"type"`
		Doc      string          `json:"doc,omitempty"`
		Required bool            `json:"required,omitempty"`
	}
	type output struct {
		Name string `json:"name"`
		Doc  string `json:"doc,omitempty"`
	}
	type task struct {
		Name    string   `json:"name"`
		Doc     string   `json:"doc,omitempty"`
		Args    []arg    `json:"args"`
		Outputs []output `json:"outputs,omitempty"`
	}
	out := struct {
		Name             string  `json:"name"`
		Version          string  `json:"version"`
		ProtocolVersions []int32 `json:"protocol_versions"`
		SDKVersion       string  `json:"sdk_version"`
		Tasks            []task  `json:"tasks"`
		Hooks            []any   `json:"hooks,omitempty"`
	}{d.GetName(), d.GetVersion(), d.GetProtocolVersions(), d.GetSdkVersion(), []task{}, hooksJSON(d)}
	for _, t := range d.GetTasks() {
		tj := task{Name: t.GetName(), Doc: t.GetDoc(), Args: []arg{}}
		for _, a := range t.GetArgs() {
			tj.Args = append(tj.Args, arg{a.GetName(), a.GetTypeJson(), a.GetDoc(), a.GetRequired()})
		}
		for _, o := range t.GetOutputs() {
			tj.Outputs = append(tj.Outputs, output{o.GetName(), o.GetDoc()})
		}
		out.Tasks = append(out.Tasks, tj)
	}
	return out
}
