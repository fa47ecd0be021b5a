package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/protocol"
)

// Version is the version of the SDK, sent to the host by Describe.
const Version = "0.1.0"

// Set is a task pack: a name, a version and the tasks it serves. Make one
// with NewSet, add tasks with Register, and call Run from main.
type Set struct {
	name    string
	version string
	tasks   []*taskDef
	hooks   []*hookDef
}

type taskDef struct {
	name  string
	doc   string
	typ   reflect.Type
	specs []argSpec
	fn    func(t *T, args reflect.Value)
	// outputs are declared with DeclareOutputs.
	outputs []Output
	// fnName is the task function's name, where a debugger can stop.
	fnName string
}

// NewSet makes an empty pack. version should be a semantic version
// ("1.2.0").
func NewSet(name, version string) *Set {
	return &Set{name: name, version: version}
}

// Register adds a task to the pack. The task is a function of *T and an
// argument struct A, whose exported fields are its arguments (see the
// package documentation for the tags). Registering a name twice, or an
// argument type that is not a struct, is a bug in the pack and panics.
func Register[A any](s *Set, name, doc string, fn func(t *T, args A)) {
	if s.task(name) != nil {
		panic(fmt.Sprintf("sdk.Register: task %q registered twice", name))
	}
	typ := reflect.TypeFor[A]()
	specs, err := argSpecs(typ)
	if err != nil {
		panic(fmt.Sprintf("sdk.Register: task %q: %v", name, err))
	}
	s.tasks = append(s.tasks, &taskDef{
		name: name, doc: doc, typ: typ, specs: specs,
		fn:     func(t *T, v reflect.Value) { fn(t, v.Interface().(A)) },
		fnName: funcName(fn),
	})
}

func (s *Set) task(name string) *taskDef {
	i := slices.IndexFunc(s.tasks, func(d *taskDef) bool { return d.name == name })
	if i < 0 {
		return nil
	}
	return s.tasks[i]
}

// Description is what a pack says about itself; `PACK describe` prints it
// as JSON.
type Description struct {
	Name             string     `json:"name"`
	Version          string     `json:"version"`
	ProtocolVersions []int      `json:"protocol_versions"`
	SDKVersion       string     `json:"sdk_version"`
	Tasks            []TaskInfo `json:"tasks"`
	Hooks            []HookInfo `json:"hooks,omitempty"`
}

// TaskInfo describes one task of a pack.
type TaskInfo struct {
	Name string    `json:"name"`
	Doc  string    `json:"doc,omitempty"`
	Args []ArgInfo `json:"args"`
	// Outputs are the outputs the task may set (see DeclareOutputs).
	Outputs []OutputInfo `json:"outputs,omitempty"`
}

// ArgInfo describes one argument of a task. Type is go-cty's JSON encoding
// of the type the host checks values against.
type ArgInfo struct {
	Name     string          `json:"name"`
	Type     json.RawMessage `json:"type"`
	Doc      string          `json:"doc,omitempty"`
	Required bool            `json:"required,omitempty"`
}

// Describe returns the pack's description.
func (s *Set) Describe() Description {
	d := Description{Name: s.name, Version: s.version, ProtocolVersions: protocol.Versions, SDKVersion: Version, Tasks: []TaskInfo{}}
	for _, td := range s.tasks {
		ti := TaskInfo{Name: td.name, Doc: td.doc, Args: []ArgInfo{}}
		for _, a := range td.specs {
			ti.Args = append(ti.Args, ArgInfo{Name: a.Name, Type: typeJSON(a.Type), Doc: a.Doc, Required: a.Required})
		}
		for _, o := range td.outputs {
			ti.Outputs = append(ti.Outputs, OutputInfo(o))
		}
		d.Tasks = append(d.Tasks, ti)
	}
	d.Hooks = s.describeHooks()
	return d
}

// runDef runs task td with JSON arguments, reporting through rs, and returns
// its result. Bad arguments are Errored without calling the task.
func (td *taskDef) run(ctx context.Context, argsJSON []byte, rs *runState, logger hclog.Logger) (Result, string) {
	return runTask(ctx, rs, logger, func(t *T) {
		v, err := decodeArgs(td.typ, td.specs, argsJSON)
		if err != nil {
			t.Errorf("bad arguments: %v", err)
		}
		td.fn(t, v)
	})
}
