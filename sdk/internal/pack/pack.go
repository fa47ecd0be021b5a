// Package pack is the contract between the SDK's face (package sdk) and
// its runtime (the pack server and the pack's command line): what a pack
// says about itself, and how a call of one of its tasks or hooks is run.
// Package sdk implements Pack for a Set; the runtime serves a Pack.
package pack

import (
	"context"
	"encoding/json"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/sdk/internal/taskenv"
	"github.com/taskhost/taskhost/sdk/result"
)

// Pack is a pack as the runtime serves it.
type Pack interface {
	// Describe returns the pack's description.
	Describe() Description
	// FuncName is the name of task's function, where a debugger can
	// stop ("main.Ping"); "" if there is no such task.
	FuncName(task string) string
	// Callee returns what c runs, or an error naming what the pack
	// lacks (a task, a hook, a stage of a hook).
	Callee(c Call) (Func, error)
}

// FromSet returns the Pack of an *sdk.Set. Package sdk sets it when it is
// loaded, so that sdk/sdktest serves a Set as a host would without the
// Set exporting its runtime side.
var FromSet func(set any) Pack

// Call is one call of a task or of a hook.
type Call struct {
	// Task is the task to run; "" when Hook is set.
	Task string
	// Hook is the hook to run, nil for a task.
	Hook *HookCall
	// ArgsJSON are the arguments, a JSON object.
	ArgsJSON []byte
}

// HookCall is a hook to run, at one of its stages.
type HookCall struct {
	Name  string
	Stage result.Stage
	// TaskID is the task a pre_task or post_task hook runs around.
	TaskID string
	// ResultsJSON is the run's RunSummary so far, as JSON.
	ResultsJSON []byte
}

// Func runs a call in env, logging to logger, and returns its result and
// reason, once it has emitted the call's end event.
type Func func(ctx context.Context, env *taskenv.Env, logger hclog.Logger) (result.Result, string)

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

// Task returns the task called name, or nil.
func (d *Description) Task(name string) *TaskInfo {
	for i := range d.Tasks {
		if d.Tasks[i].Name == name {
			return &d.Tasks[i]
		}
	}
	return nil
}

// OutputNames are the names of the outputs task declares.
func (d *Description) OutputNames(task string) []string {
	var names []string
	if ti := d.Task(task); ti != nil {
		for _, o := range ti.Outputs {
			names = append(names, o.Name)
		}
	}
	return names
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

// HookInfo describes one hook of a pack.
type HookInfo struct {
	Name   string         `json:"name"`
	Doc    string         `json:"doc,omitempty"`
	Stages []result.Stage `json:"stages"`
	Args   []ArgInfo      `json:"args"`
}

// OutputInfo describes one output of a task in the pack's description.
type OutputInfo struct {
	Name string `json:"name"`
	Doc  string `json:"doc,omitempty"`
}
