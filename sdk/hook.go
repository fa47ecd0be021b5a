package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
	"github.com/taskhost/taskhost/sdk/result"
)

// Stage is when a hook runs: around the whole job, or around each task.
type Stage = result.Stage

// The four stages. Pre stages run in the jobfile's order, post stages in
// reverse order.
const (
	// PreJob runs before any task. A pre_job hook that does not pass
	// stops the job: every task ends Blocked.
	PreJob = result.PreJob
	// PreTask runs before each task, in the task's turn. A pre_task hook
	// that does not pass blocks that task.
	PreTask = result.PreTask
	// PostTask runs after each task, whatever its result.
	PostTask = result.PostTask
	// PostJob runs after every task has ended, even when the job was
	// stopped.
	PostJob = result.PostJob
)

// Stages lists the stages in the order they come.
var Stages = result.Stages

// Hook tells a hook function where it runs and what has happened so far.
type Hook struct {
	// Stage is the stage it runs at.
	Stage Stage
	// Task is the id of the task a pre_task or post_task hook runs
	// around; "" at the job stages.
	Task string
	// Results are the run's results when the hook started.
	Results RunSummary
}

// RunSummary is a run's results so far, as the host hands them to a hook.
// It is also the JSON the notify pack posts.
type RunSummary = result.RunSummary

// Counts counts the results of the tasks that have ended, as pyATS does;
// SuccessRate is (Passed + Passx + Skipped) / Total in percent.
type Counts = result.Counts

// TaskSummary is one task of a RunSummary. Its Result is Unset while the
// task has not ended.
type TaskSummary = result.TaskSummary

// HookSummary is one hook call of a RunSummary.
type HookSummary = result.HookSummary

type hookDef struct {
	name   string
	doc    string
	stages []Stage
	typ    reflect.Type
	specs  []argSpec
	fn     func(t *T, h *Hook, args reflect.Value)
}

// RegisterHook adds a hook to the pack: a function like a task's, that
// also gets the stage it runs at and the run's results so far. It runs at
// each of stages, in a pack process of its own, when a jobfile enables it
// with a hook block. A hook that does not end Passed, Passx or Skipped
// has failed: the host records it, and the run's exit code is 3.
//
// Registering a name twice, no stages, an unknown stage, or an argument
// type that is not a struct, is a bug in the pack and panics.
func RegisterHook[A any](s *Set, name, doc string, stages []Stage, fn func(t *T, h *Hook, args A)) {
	if s.hook(name) != nil {
		panic(fmt.Sprintf("sdk.RegisterHook: hook %q registered twice", name))
	}
	if len(stages) == 0 {
		panic(fmt.Sprintf("sdk.RegisterHook: hook %q has no stages", name))
	}
	for _, st := range stages {
		if !slices.Contains(Stages, st) {
			panic(fmt.Sprintf("sdk.RegisterHook: hook %q: unknown stage %q", name, st))
		}
	}
	typ := reflect.TypeFor[A]()
	specs, err := argSpecs(typ)
	if err != nil {
		panic(fmt.Sprintf("sdk.RegisterHook: hook %q: %v", name, err))
	}
	s.hooks = append(s.hooks, &hookDef{
		name: name, doc: doc, stages: slices.Clone(stages), typ: typ, specs: specs,
		fn: func(t *T, h *Hook, v reflect.Value) { fn(t, h, v.Interface().(A)) },
	})
}

func (s *Set) hook(name string) *hookDef {
	i := slices.IndexFunc(s.hooks, func(d *hookDef) bool { return d.name == name })
	if i < 0 {
		return nil
	}
	return s.hooks[i]
}

// HookInfo describes one hook of a pack: Name (name), Doc (doc), the
// Stages (stages) it runs at, and Args (args).
type HookInfo = pack.HookInfo

func (s *Set) describeHooks() []HookInfo {
	var out []HookInfo
	for _, hd := range s.hooks {
		hi := HookInfo{Name: hd.name, Doc: hd.doc, Stages: hd.stages, Args: []ArgInfo{}}
		for _, a := range hd.specs {
			hi.Args = append(hi.Args, ArgInfo{Name: a.Name, Type: typeJSON(a.Type), Doc: a.Doc, Required: a.Required})
		}
		out = append(out, hi)
	}
	return out
}

// callee finds what c asks to run.
func (s *Set) callee(c pack.Call) (pack.Func, error) {
	hc := c.Hook
	if hc == nil {
		td := s.task(c.Task)
		if td == nil {
			return nil, fmt.Errorf("pack %s has no task %q", s.name, c.Task)
		}
		return func(ctx context.Context, env *taskenv.Env, logger hclog.Logger) (Result, string) {
			return td.run(ctx, c.ArgsJSON, env, logger)
		}, nil
	}
	hd := s.hook(hc.Name)
	if hd == nil {
		return nil, fmt.Errorf("pack %s has no hook %q", s.name, hc.Name)
	}
	h := &Hook{Stage: hc.Stage, Task: hc.TaskID}
	if !slices.Contains(hd.stages, h.Stage) {
		return nil, fmt.Errorf("hook %q of pack %s does not run at stage %q", hd.name, s.name, h.Stage)
	}
	return func(ctx context.Context, env *taskenv.Env, logger hclog.Logger) (Result, string) {
		return runTask(ctx, env, logger, func(t *T) {
			if b := hc.ResultsJSON; len(b) > 0 {
				if err := json.Unmarshal(b, &h.Results); err != nil {
					t.Errorf("bad results from the host: %v", err)
				}
			}
			v, err := decodeArgs(hd.typ, hd.specs, c.ArgsJSON)
			if err != nil {
				t.Errorf("bad arguments: %v", err)
			}
			hd.fn(t, h, v)
		})
	}, nil
}

// funcName is the name of the function fn, as a debugger knows it
// ("main.Ping", "main.main.func2").
func funcName(fn any) string {
	if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
		return f.Name()
	}
	return ""
}
