package sdk

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/protocol/wire"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/packcli"
	"github.com/taskhost/taskhost/sdk/internal/packserver"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
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
// as JSON. Its fields (their JSON names in parentheses): Name (name) and
// Version (version) of the pack, ProtocolVersions (protocol_versions), the
// pack protocol versions it speaks, SDKVersion (sdk_version), and its
// Tasks (tasks) and Hooks (hooks, left out when none).
type Description = pack.Description

// TaskInfo describes one task of a pack: Name (name), Doc (doc), Args
// (args), and the Outputs (outputs) it declares with DeclareOutputs.
type TaskInfo = pack.TaskInfo

// ArgInfo describes one argument of a task or hook: Name (name), Type
// (type: go-cty's JSON encoding of the type the host checks values
// against), Doc (doc) and Required (required).
type ArgInfo = pack.ArgInfo

// Describe returns the pack's description.
func (s *Set) Describe() Description {
	d := Description{Name: s.name, Version: s.version, ProtocolVersions: wire.Versions, SDKVersion: Version, Tasks: []TaskInfo{}}
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

// run runs task td with JSON arguments in env and returns its result.
// Bad arguments are Errored without calling the task.
func (td *taskDef) run(ctx context.Context, argsJSON []byte, env *taskenv.Env, logger hclog.Logger) (Result, string) {
	return runTask(ctx, env, logger, func(t *T) {
		v, err := decodeArgs(td.typ, td.specs, argsJSON)
		if err != nil {
			t.Errorf("bad arguments: %v", err)
		}
		td.fn(t, v)
	})
}

// Run is the pack's main: started by a host, it serves the pack over
// go-plugin; started by hand, it is a small command line:
//
//	PACK describe                      print the pack's description as JSON
//	PACK run TASK [--arg key=value]…   run one task here and print its result tree
//
// Run does not return.
func (s *Set) Run() {
	if packserver.Started() {
		packserver.Serve(s.pack())
		os.Exit(0)
	}
	os.Exit(s.cli(os.Args[1:], os.Stdout, os.Stderr))
}

// cli is the command line of a pack started by hand.
func (s *Set) cli(args []string, stdout, stderr io.Writer) int {
	return packcli.Main(s.pack(), args, stdout, stderr)
}

func init() {
	pack.FromSet = func(set any) pack.Pack { return set.(*Set).pack() }
}

// pack is s as the runtime serves it.
func (s *Set) pack() pack.Pack { return setPack{s} }

// setPack is a Set as the runtime serves it.
type setPack struct{ s *Set }

func (p setPack) Describe() pack.Description { return p.s.Describe() }

func (p setPack) FuncName(task string) string {
	if td := p.s.task(task); td != nil {
		return td.fnName
	}
	return ""
}

func (p setPack) Callee(c pack.Call) (pack.Func, error) { return p.s.callee(c) }
