package runner

import (
	"encoding/json"
	"fmt"

	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/host/jobfile"
)

// taskArgs returns the arguments of t as JSON: those checked when the
// jobfile was validated, and those that use other tasks' outputs,
// evaluated now that those tasks have ended. The scheduler starts t only
// after the tasks it depends on, which include every task it reads, have
// ended and their records are final.
func (r *execution) taskArgs(t *jobfile.Task) ([]byte, error) {
	checked := r.plan.Args[t.ID]
	if len(t.Deferred) == 0 {
		return checked, nil
	}
	vals, err := t.EvalDeferred(func(id string) map[string]cty.Value {
		tr := r.tasks[id]
		if tr == nil {
			return nil
		}
		return outputValues(tr.outputs)
	})
	if err != nil {
		return nil, err
	}
	r.mask.Add(t.SensitiveValues()...) // computed from sensitive values
	var schema *jobfile.TaskSchema
	if ps := r.plan.Schemas[t.Pack]; ps != nil {
		for i := range ps.Tasks {
			if ps.Tasks[i].Name == t.Task {
				schema = &ps.Tasks[i]
			}
		}
	}
	args, err := jobfile.MergeArgs(checked, t, schema, vals)
	if err != nil {
		return nil, fmt.Errorf("args: %w", err)
	}
	return args, nil
}

// outputValues turns outputs, as JSON, into values for expressions. An
// output that is not valid JSON (which the SDK never sends) is left out.
func outputValues(outputs map[string][]byte) map[string]cty.Value {
	out := make(map[string]cty.Value, len(outputs))
	for name, b := range outputs {
		ty, err := ctyjson.ImpliedType(b)
		if err != nil {
			continue
		}
		v, err := ctyjson.Unmarshal(b, ty)
		if err != nil {
			continue
		}
		out[name] = v
	}
	return out
}

func rawOutputs(outputs map[string][]byte) map[string]json.RawMessage {
	if len(outputs) == 0 {
		return nil
	}
	out := make(map[string]json.RawMessage, len(outputs))
	for k, v := range outputs {
		out[k] = v
	}
	return out
}
