package packwire

import (
	"fmt"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"google.golang.org/protobuf/proto"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/result"
)

// Description is what a pack says about itself: its name and version, the
// pack protocol versions it speaks, and the tasks and hooks it serves with
// the schema of their arguments. Its JSON encoding is the one
// `PACK describe` prints.
type Description struct {
	Name             string     `json:"name"`
	Version          string     `json:"version"`
	ProtocolVersions []int32    `json:"protocol_versions"`
	SDKVersion       string     `json:"sdk_version"`
	Tasks            []TaskSpec `json:"tasks"`
	Hooks            []HookSpec `json:"hooks,omitempty"`
}

// TaskSpec describes one task of a pack.
type TaskSpec struct {
	Name string    `json:"name"`
	Doc  string    `json:"doc,omitempty"`
	Args []ArgSpec `json:"args"`
	// Outputs are the outputs the task may set; other tasks' arguments
	// read them as task.ID.output.NAME.
	Outputs []OutputSpec `json:"outputs,omitempty"`
	// FuncName is the Go function that runs the task ("main.Ping"), where
	// a debugger can stop; "" when unknown.
	FuncName string `json:"-"`
}

// HookSpec describes one hook of a pack.
type HookSpec struct {
	Name string `json:"name"`
	Doc  string `json:"doc,omitempty"`
	// Stages are the stages the hook runs at.
	Stages []result.Stage `json:"stages"`
	Args   []ArgSpec      `json:"args"`
}

// ArgSpec describes one argument of a task or hook.
type ArgSpec struct {
	Name string `json:"name"`
	// Type is the type the host checks the argument's value against;
	// cty.DynamicPseudoType takes any value.
	Type     cty.Type `json:"type"`
	Doc      string   `json:"doc,omitempty"`
	Required bool     `json:"required,omitempty"`
}

// OutputSpec describes one output of a task.
type OutputSpec struct {
	Name string `json:"name"`
	Doc  string `json:"doc,omitempty"`
}

// Task returns the task called name, or nil when d (which may be nil)
// serves none.
func (d *Description) Task(name string) *TaskSpec {
	if d == nil {
		return nil
	}
	for i := range d.Tasks {
		if d.Tasks[i].Name == name {
			return &d.Tasks[i]
		}
	}
	return nil
}

// Hook returns the hook called name, or nil when d (which may be nil)
// serves none.
func (d *Description) Hook(name string) *HookSpec {
	if d == nil {
		return nil
	}
	for i := range d.Hooks {
		if d.Hooks[i].Name == name {
			return &d.Hooks[i]
		}
	}
	return nil
}

// DescriptionError says what in a pack's description the host cannot
// read: the pack describes itself wrongly.
type DescriptionError struct {
	// Detail names the task or hook and argument and what is wrong with
	// it.
	Detail string
}

func (e *DescriptionError) Error() string { return e.Detail }

// FromDescribe turns a pack's Describe answer into a Description. An
// argument type that is not go-cty's JSON type encoding is a
// *DescriptionError.
func FromDescribe(w *packv1.DescribeResponse) (*Description, error) {
	d := &Description{
		Name: w.GetName(), Version: w.GetVersion(), SDKVersion: w.GetSdkVersion(),
		ProtocolVersions: w.GetProtocolVersions(), Tasks: make([]TaskSpec, 0, len(w.GetTasks())),
	}
	for _, t := range w.GetTasks() {
		args, err := fromArgs(t.GetArgs(), "task "+t.GetName())
		if err != nil {
			return nil, err
		}
		ts := TaskSpec{Name: t.GetName(), Doc: t.GetDoc(), Args: args, FuncName: t.GetFuncName()}
		for _, o := range t.GetOutputs() {
			ts.Outputs = append(ts.Outputs, OutputSpec{Name: o.GetName(), Doc: o.GetDoc()})
		}
		d.Tasks = append(d.Tasks, ts)
	}
	for _, h := range w.GetHooks() {
		args, err := fromArgs(h.GetArgs(), "hook "+h.GetName())
		if err != nil {
			return nil, err
		}
		hs := HookSpec{Name: h.GetName(), Doc: h.GetDoc(), Args: args}
		for _, s := range h.GetStages() {
			hs.Stages = append(hs.Stages, result.Stage(s))
		}
		d.Hooks = append(d.Hooks, hs)
	}
	return d, nil
}

func fromArgs(w []*packv1.ArgSpec, of string) ([]ArgSpec, error) {
	out := make([]ArgSpec, 0, len(w))
	for _, a := range w {
		ty, err := ctyjson.UnmarshalType(a.GetTypeJson())
		if err != nil {
			return nil, &DescriptionError{fmt.Sprintf("%s, argument %s: bad type %s: %v", of, a.GetName(), a.GetTypeJson(), err)}
		}
		out = append(out, ArgSpec{Name: a.GetName(), Type: ty, Doc: a.GetDoc(), Required: a.GetRequired()})
	}
	return out, nil
}

// toDescribe turns d back into the Describe answer it came from.
func toDescribe(d *Description) (*packv1.DescribeResponse, error) {
	w := &packv1.DescribeResponse{Name: d.Name, Version: d.Version, SdkVersion: d.SDKVersion, ProtocolVersions: d.ProtocolVersions}
	for _, t := range d.Tasks {
		args, err := toArgs(t.Args)
		if err != nil {
			return nil, err
		}
		ts := &packv1.TaskSpec{Name: t.Name, Doc: t.Doc, Args: args, FuncName: t.FuncName}
		for _, o := range t.Outputs {
			ts.Outputs = append(ts.Outputs, &packv1.OutputSpec{Name: o.Name, Doc: o.Doc})
		}
		w.Tasks = append(w.Tasks, ts)
	}
	for _, h := range d.Hooks {
		args, err := toArgs(h.Args)
		if err != nil {
			return nil, err
		}
		hs := &packv1.HookSpec{Name: h.Name, Doc: h.Doc, Args: args}
		for _, s := range h.Stages {
			hs.Stages = append(hs.Stages, string(s))
		}
		w.Hooks = append(w.Hooks, hs)
	}
	return w, nil
}

func toArgs(args []ArgSpec) ([]*packv1.ArgSpec, error) {
	var out []*packv1.ArgSpec
	for _, a := range args {
		ty, err := ctyjson.MarshalType(a.Type)
		if err != nil {
			return nil, fmt.Errorf("argument %s: %w", a.Name, err)
		}
		out = append(out, &packv1.ArgSpec{Name: a.Name, TypeJson: ty, Doc: a.Doc, Required: a.Required})
	}
	return out, nil
}

// MarshalDescription encodes d as the pack protocol's Describe answer, the
// bytes UnmarshalDescription reads back (the host's cache of descriptions
// keeps them).
func MarshalDescription(d *Description) ([]byte, error) {
	w, err := toDescribe(d)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(w)
}

// UnmarshalDescription decodes what MarshalDescription encoded, or a
// Describe answer as a pack sends it.
func UnmarshalDescription(b []byte) (*Description, error) {
	w := &packv1.DescribeResponse{}
	if err := proto.Unmarshal(b, w); err != nil {
		return nil, err
	}
	return FromDescribe(w)
}
