package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/packs"
	"github.com/taskhost/taskhost/internal/packwire"
)

// Plan is a jobfile checked against its packs and ready to run.
type Plan struct {
	Job *jobfile.Job
	// Packs holds each pack's description, by the jobfile's pack name.
	Packs map[string]*packwire.Description
	// Args holds each task's checked arguments as a JSON object, by task id.
	Args map[string][]byte
	// Schemas holds each pack's schema, by the jobfile's pack name: the
	// argument types of a task's deferred args (those using other
	// tasks' outputs) are checked against it when the task starts.
	Schemas map[string]*jobfile.PackSchema
	// PackErrors holds, by pack name, why a pack could not be described
	// (Options.ForRun only): its tasks end Errored with that reason, and
	// the others run.
	PackErrors map[string]error
	// HookArgs holds each hook's checked arguments as a JSON object, by
	// hook name.
	HookArgs map[string][]byte
	// Classes are the placement classes of the tasks placed on agents
	// (Options.Agents), in the order of their first task; ClassOf gives
	// a task's class id.
	Classes []*Class
	ClassOf map[string]string
}

// Options say how Make reads the jobfile and finds its packs. The zero
// value checks a jobfile without variables against the packs of the
// default packs directory, as `taskhost validate` does: a pack that cannot
// be started or described is an error.
type Options struct {
	// Jobfile gives the variables' values and the jobfile's limits.
	Jobfile jobfile.Options
	// PacksDir is the packs directory; "" means packs.DefaultDir().
	PacksDir string
	// ForRun makes a plan for `taskhost run`: a pack that cannot be
	// started or described does not stop it; it is a warning, its tasks
	// end Errored with the reason (Plan.PackErrors), and the others run.
	ForRun bool
	// Agents says the run serves taskhost agents (`--listen`): tasks may
	// be placed on them, and the plan has their classes. Without it, a
	// task placed on agents is an error.
	Agents bool
}

// Make loads the jobfile at path, finds its packs and checks them against
// the lock, starts each pack once to read its description (unless the
// cache has it), and checks every task's and hook's arguments against it.
// A task placed on agents is refused before any pack starts: this build
// runs every task on the host.
// Every problem is a diagnostic; a nil Plan comes with errors.
func Make(ctx context.Context, path string, o Options) (*Plan, hcl.Diagnostics) {
	job, diags := jobfile.LoadWith(path, o.Jobfile)
	if diags.HasErrors() {
		return nil, diags
	}
	// Placement is refused before any pack starts.
	diags = append(diags, checkPlacements(job, o.Agents)...)
	if diags.HasErrors() {
		return nil, diags
	}
	// Installed packs are found, and every pack is checked against the
	// lock, before any pack starts: a mismatch stops the run.
	diags = append(diags, packs.Resolve(job, packs.Dir{Root: o.PacksDir})...)
	if diags.HasErrors() {
		return nil, diags
	}
	descs, ddiags := describePacks(ctx, job)
	packErrors := map[string]error{}
	for _, d := range ddiags {
		if o.ForRun && d.Extra != nil {
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
	p, cdiags := check(job, descs, packErrors, o.Agents)
	diags = append(diags, cdiags...)
	if p != nil && o.Agents {
		var pdiags hcl.Diagnostics
		p.Classes, p.ClassOf, pdiags = classes(job, descs)
		diags = append(diags, pdiags...)
		if pdiags.HasErrors() {
			return nil, diags
		}
	}
	return p, diags
}

// Check checks job's task and hook arguments against the packs'
// descriptions, and returns the plan. A task placed on agents is an
// error: this build runs every task on the host. The tasks of the packs in
// packErrors are not checked: they will not run.
func Check(job *jobfile.Job, descs map[string]*packwire.Description, packErrors map[string]error) (*Plan, hcl.Diagnostics) {
	return check(job, descs, packErrors, false)
}

func check(job *jobfile.Job, descs map[string]*packwire.Description, packErrors map[string]error, agents bool) (*Plan, hcl.Diagnostics) {
	if packErrors == nil {
		packErrors = map[string]error{}
	}
	schemas := map[string]*jobfile.PackSchema{}
	for name, d := range descs {
		schemas[name] = packSchema(d)
	}
	checked := *job
	checked.Tasks = nil
	for _, t := range job.Tasks {
		if packErrors[t.Pack] == nil {
			checked.Tasks = append(checked.Tasks, t)
		}
	}
	args, diags := jobfile.CheckArgs(&checked, schemas)
	diags = append(diags, checkPlacements(job, agents)...)
	hookArgs, hdiags := checkHooks(job, schemas)
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

// describePacks starts each pack of the job, at the same time, and asks
// it to describe itself, unless the description of the same binary is in
// the cache (see SchemaCacheDir). A pack that cannot be started or
// described is a diagnostic on its pack block; one that describes itself
// in a way the host cannot read is an error even for a run.
func describePacks(ctx context.Context, job *jobfile.Job) (map[string]*packwire.Description, hcl.Diagnostics) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		out   = map[string]*packwire.Description{}
		diags hcl.Diagnostics
	)
	// The cache first: a pack whose description is there is not started,
	// and when none has to be, no supervisor is set up.
	entries := make([]string, len(job.Packs))
	found := make([]*packwire.Description, len(job.Packs))
	for i, p := range job.Packs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			found[i], entries[i] = lookupCached(p.Path)
		}()
	}
	wg.Wait()
	var start []int
	for i, p := range job.Packs {
		if found[i] != nil {
			out[p.Name] = found[i]
		} else {
			start = append(start, i)
		}
	}
	if len(start) == 0 {
		return out, nil
	}
	// The packs started here are contained and their sockets placed as a
	// run's are (host/runner).
	var base launch.Config
	if sockets, err := launch.MakeSocketDir(os.Getenv("PLUGIN_UNIX_SOCKET_DIR")); err == nil {
		defer launch.RemoveAtEnd(sockets)()
		base.SocketDir = sockets
	}
	base.Supervisor = launch.NewSupervisor(nil)
	defer launch.AbortAtQuit(base.Supervisor)()
	defer base.Supervisor.Close()
	for _, i := range start {
		p := job.Packs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := base
			cfg.Path, cfg.SHA256, cfg.StartTimeout = p.Path, p.SHA256, p.StartTimeout
			d, err := describeAndStore(ctx, cfg, entries[i])
			mu.Lock()
			defer mu.Unlock()
			var bad *packwire.DescriptionError
			switch {
			case errors.As(err, &bad):
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Pack describes itself wrongly",
					Detail:   fmt.Sprintf("Pack %q (%s): %v.", p.Name, p.Path, bad),
					Subject:  p.DeclRange.Ptr(),
				})
			case err != nil:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Pack cannot be started",
					Detail:   fmt.Sprintf("Pack %q: %v.", p.Name, err),
					Subject:  p.DeclRange.Ptr(),
					Extra:    packError{p.Name, err},
				})
			default:
				out[p.Name] = d
			}
		}()
	}
	wg.Wait()
	return out, diags
}

// packSchema is what the jobfile's argument checks need of a pack's
// description: its tasks' and hooks' arguments, and its tasks' outputs.
func packSchema(d *packwire.Description) *jobfile.PackSchema {
	s := &jobfile.PackSchema{Name: d.Name}
	for _, t := range d.Tasks {
		ts := jobfile.TaskSchema{Name: t.Name, Args: argSchemas(t.Args)}
		for _, o := range t.Outputs {
			ts.Outputs = append(ts.Outputs, o.Name)
		}
		s.Tasks = append(s.Tasks, ts)
	}
	for _, h := range d.Hooks {
		s.Hooks = append(s.Hooks, jobfile.TaskSchema{Name: h.Name, Args: argSchemas(h.Args)})
	}
	return s
}

func argSchemas(args []packwire.ArgSpec) []jobfile.ArgSchema {
	var out []jobfile.ArgSchema
	for _, a := range args {
		out = append(out, jobfile.ArgSchema{Name: a.Name, Type: a.Type, Required: a.Required})
	}
	return out
}

// checkHooks checks the job's hook blocks against the hooks their packs
// serve and returns each one's arguments as JSON, by hook name.
func checkHooks(job *jobfile.Job, schemas map[string]*jobfile.PackSchema) (map[string][]byte, hcl.Diagnostics) {
	if len(job.Hooks) == 0 {
		return nil, nil
	}
	return jobfile.CheckHookArgs(job, schemas)
}
