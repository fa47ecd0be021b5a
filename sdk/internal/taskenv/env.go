package taskenv

import (
	"maps"
	"slices"
	"sync"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/logfile"
)

// Env is what one process of a task (or of a hook call) runs with: the
// task process itself, or a child process that joined it.
type Env struct {
	// TaskID is the id the jobfile gave the task.
	TaskID string
	// Emit takes the process's result events.
	Emit emit.Emitter
	// PID is the process's id.
	PID int
	// Log is the process's log file, nil when logging to stderr.
	Log *logfile.File
	// Hub is how to reach the hub and the shared state, nil without a
	// host; LogDir is the task's log directory, "" without a host. Both
	// are handed on to child processes.
	Hub    *packv1.Hub
	LogDir string
	// Outputs holds what the task sets with SetOutput; nil in a child
	// process and in a hook.
	Outputs *Outputs
	// Root is the id under which this process's top-level steps go (""
	// in the task process; "<parent step>/<pid>" in a child), and Parent
	// the step that started this process.
	Root, Parent string
}

// Outputs holds the outputs a task process set.
type Outputs struct {
	declared []string
	mu       sync.Mutex
	values   map[string][]byte
}

// NewOutputs holds the outputs of a task that declares those named.
func NewOutputs(declared []string) *Outputs {
	return &Outputs{declared: declared, values: map[string][]byte{}}
}

// Declared says whether the task declares the output called name.
func (o *Outputs) Declared(name string) bool { return slices.Contains(o.declared, name) }

// Set sets an output to a value, as JSON.
func (o *Outputs) Set(name string, value []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.values[name] = value
}

// Snapshot returns the outputs set so far, each as JSON; nil for nil
// Outputs.
func (o *Outputs) Snapshot() map[string][]byte {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.values)
}
