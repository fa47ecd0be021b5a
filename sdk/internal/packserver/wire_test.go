package packserver

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/result"
)

// A description goes to the wire and back unchanged, with each task's
// function name on the wire.
func TestDescribeWire(t *testing.T) {
	t.Parallel()
	d := pack.Description{
		Name: "p", Version: "1.2.3", ProtocolVersions: []int{1}, SDKVersion: "0.1.0",
		Tasks: []pack.TaskInfo{
			{Name: "a", Doc: "A.", Args: []pack.ArgInfo{{Name: "host", Type: json.RawMessage(`"string"`), Doc: "the host", Required: true}},
				Outputs: []pack.OutputInfo{{Name: "addr", Doc: "the address"}}},
			{Name: "b", Args: []pack.ArgInfo{}},
		},
		Hooks: []pack.HookInfo{{Name: "h", Doc: "H.", Stages: []result.Stage{result.PreJob, result.PostTask},
			Args: []pack.ArgInfo{{Name: "url", Type: json.RawMessage(`"string"`)}}}},
	}
	w := describeToWire(d, func(task string) string { return "main." + task })
	if w.GetTasks()[0].GetFuncName() != "main.a" || w.GetTasks()[1].GetFuncName() != "main.b" {
		t.Errorf("function names %q, %q", w.GetTasks()[0].GetFuncName(), w.GetTasks()[1].GetFuncName())
	}
	if diff := cmp.Diff(d, DescribeFromWire(w)); diff != "" {
		t.Errorf("back from the wire (-sent +got):\n%s", diff)
	}
}
