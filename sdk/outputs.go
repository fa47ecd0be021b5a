package sdk

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/taskhost/taskhost/sdk/internal/pack"
)

// Output declares one output of a task: a value the task sets with
// T.SetOutput and that other tasks of the jobfile read in their args as
// task.ID.output.NAME.
type Output struct {
	// Name is the output's name, a valid HCL identifier.
	Name string

	// Doc describes the output, shown by `PACK describe`.
	Doc string
}

// OutputInfo describes one output of a task in the pack's description:
// Name (name) and Doc (doc).
type OutputInfo = pack.OutputInfo

// DeclareOutputs declares the outputs of a registered task, so that the
// host can check the jobfile's references to them before anything runs.
// A task sets only declared outputs. Declaring outputs for a task that is
// not registered, or an output twice, is a bug in the pack and panics.
func (s *Set) DeclareOutputs(task string, outputs ...Output) {
	td := s.task(task)
	if td == nil {
		panic(fmt.Sprintf("sdk.DeclareOutputs: no task %q is registered", task))
	}
	for _, o := range outputs {
		if o.Name == "" || slices.ContainsFunc(td.outputs, func(x Output) bool { return x.Name == o.Name }) {
			panic(fmt.Sprintf("sdk.DeclareOutputs: task %q: output %q is empty or declared twice", task, o.Name))
		}
		td.outputs = append(td.outputs, o)
	}
}

// SetOutput sets an output of the task: a value that encodes as JSON,
// which other tasks of the jobfile can take in their args as
// task.ID.output.NAME. The output must be declared with
// Set.DeclareOutputs. Setting it again replaces the value. The host
// records the outputs in results.json when the task ends. An undeclared
// name, a value that does not encode, or a call from a child process
// started with T.Command ends the step Errored.
//
// Outputs are not secret: do not put passwords in them.
func (t *T) SetOutput(name string, value any) {
	o := t.run.Outputs
	if o == nil {
		t.Errorf("SetOutput(%q): outputs can be set only in the task's own process", name)
		return
	}
	if !o.Declared(name) {
		t.Errorf("SetOutput(%q): the task declares no such output; declare it with Set.DeclareOutputs", name)
		return
	}
	b, err := json.Marshal(value)
	if err != nil {
		t.Errorf("SetOutput(%q): %v", name, err)
		return
	}
	o.Set(name, b)
}
