package jobfile

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Job is a loaded and checked jobfile.
type Job struct {
	// Name is the label of the job block.
	Name string

	// MaxParallel is the most tasks to run at once, or 0 when the jobfile
	// does not say and the caller decides.
	MaxParallel int

	// Timeout bounds the whole job, or is 0 when not set.
	Timeout time.Duration

	// Grace is how long a task told to stop (timeout, cancellation) has to
	// return before its process group is killed, or 0 when not set.
	Grace time.Duration

	// MaxRunBytes, MaxTaskBytes, MaxTaskEvents and MaxEventBytes bound
	// what the tasks may send to the hub (see hub.Limits), or are 0 for
	// the defaults.
	MaxRunBytes, MaxTaskBytes, MaxTaskEvents, MaxEventBytes int64

	// MaxStateBytes bounds the run's shared state (see hub.Limits), or
	// is 0 for the default.
	MaxStateBytes int64

	// Placement is where the tasks without a placement block of their
	// own run: the job block's placement block, or the zero Placement
	// (on the host) when it has none.
	Placement Placement

	// Archive asks for the run directory to be zipped at the end of the
	// run (as taskhost run --archive does).
	Archive bool

	// File is the absolute path of the jobfile.
	File string

	// Source is the content of the jobfile.
	Source []byte

	// Variables holds the resolved value of every declared variable.
	Variables map[string]cty.Value

	// Sensitive holds the names of the sensitive variables: their values
	// are never shown (see RedactedSource and RedactArgs).
	Sensitive map[string]bool

	// State holds the initial values of the run's shared state, from the
	// state block; nil when there is none.
	State map[string]cty.Value

	// Packs are the declared packs, in file order.
	Packs []*Pack

	// Tasks are the declared tasks, in file order.
	Tasks []*Task

	// RequiredPacks are the entries of the required_packs blocks: packs
	// installed in the packs directory, in file order.
	RequiredPacks []*RequiredPack

	// Hooks are the declared hooks, in file order (see HooksInOrder).
	Hooks []*Hook

	// DeclRange is the range of the job block's header.
	DeclRange hcl.Range

	// byID indexes Tasks by id; redact holds the ranges of Source that
	// RedactedSource hides; sensitive the parts of args computed from
	// sensitive values (SensitiveValues).
	byID      map[string]int
	redact    []hcl.Range
	sensitive []string

	// byPack indexes the first packIndexed Packs by name.
	byPack      map[string]int
	packIndexed int
}

// Pack is a plugin executable that serves tasks.
type Pack struct {
	// Name is the label of the pack block.
	Name string

	// Path is the absolute, cleaned path of the pack executable. It is
	// empty for an installed pack (Required is set) until the pack is
	// resolved in the packs directory (host/packs.Resolve).
	Path string

	// Required is the required_packs entry of an installed pack, or nil
	// for a pack given by path.
	Required *RequiredPack

	// SHA256 is the hash the binary must have (from the lock file), or
	// nil when the pack is not pinned. Set by host/packs.Resolve.
	SHA256 []byte

	// MaxParallel is the most tasks of this pack to run at once, or 0 when
	// only the job's limit applies.
	MaxParallel int

	// StartTimeout is how long the pack may take to start serving, or 0
	// for the host's default.
	StartTimeout time.Duration

	// DeclRange is the range of the pack block's header.
	DeclRange hcl.Range
}

// Task is one task of the job, run by a pack.
type Task struct {
	// ID is the task's id, unique in the job: the label of the task
	// block, followed for a block with count or for_each by the index or
	// key, as in ping[0] or ping["r1"].
	ID string

	// Name is the label of the task block.
	Name string

	// Key is count.index or each.key of an expanded task, else cty.NilVal.
	Key cty.Value

	// Pack is the name of the pack block that serves the task.
	Pack string

	// Task is the name of the task inside the pack.
	Task string

	// Args are the evaluated arguments, all wholly known. It is an empty
	// map when the task has no args.
	Args map[string]cty.Value

	// ArgRanges holds the range of each argument's value expression.
	ArgRanges map[string]hcl.Range

	// ArgsRange is the range of the args attribute, or DeclRange when
	// there is none.
	ArgsRange hcl.Range

	// Deferred holds the arguments that use other tasks' outputs, by
	// name: they are evaluated by EvalDeferred when the task is about to
	// start, and are not in Args.
	Deferred map[string]hcl.Expression

	// OutputRefs are the references to other tasks' outputs in Deferred.
	OutputRefs []OutputRef

	// DependsOn lists the ids of the tasks that must finish first, in the
	// order written and without duplicates.
	DependsOn []string

	// Timeout bounds the task, or is 0 when not set.
	Timeout time.Duration

	// Grace overrides the job's grace period for this task, or is 0.
	Grace time.Duration

	// Retries is how many times to run the task again when it does not
	// pass.
	Retries int

	// Placement is where the task may run: its own placement block, else
	// the job's (Job.Placement).
	Placement Placement

	// DeclRange is the range of the task block's header.
	DeclRange hcl.Range

	// PackRange is the range of the pack attribute's value.
	PackRange hcl.Range

	// TaskRange is the range of the task attribute's value.
	TaskRange hcl.Range

	// ctx is the context the task's expressions were evaluated in, and
	// scope resolves task.ID references in Deferred.
	ctx   *hcl.EvalContext
	scope *refScope
	// depRanges are the ranges of the expressions that made DependsOn,
	// one for each while the jobfile loads; depSet holds DependsOn when
	// it is long.
	depRanges []hcl.Range
	depSet    map[string]bool
	// sensitive is what SensitiveValues returns.
	sensitive []string
}

// Task returns the task with the given id, or nil if there is none.
func (j *Job) Task(id string) *Task {
	if i, ok := j.byID[id]; ok && i < len(j.Tasks) && j.Tasks[i].ID == id {
		return j.Tasks[i]
	}
	for _, t := range j.Tasks {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// Pack returns the pack with the given name, or nil if there is none.
func (j *Job) Pack(name string) *Pack {
	// Packs only grows while a jobfile loads: index what was added since
	// the last call, so that looking every task's pack up stays linear.
	if j.packIndexed > len(j.Packs) {
		j.byPack, j.packIndexed = nil, 0
	}
	if j.byPack == nil {
		j.byPack = make(map[string]int, len(j.Packs))
	}
	for ; j.packIndexed < len(j.Packs); j.packIndexed++ {
		if _, dup := j.byPack[j.Packs[j.packIndexed].Name]; !dup {
			j.byPack[j.Packs[j.packIndexed].Name] = j.packIndexed
		}
	}
	if i, ok := j.byPack[name]; ok && j.Packs[i].Name == name {
		return j.Packs[i]
	}
	for _, p := range j.Packs {
		if p.Name == name {
			return p
		}
	}
	return nil
}
