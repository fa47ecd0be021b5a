package jobfile

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// checkOutputRefs reports references in task's args to outputs that the
// task read does not declare.
func checkOutputRefs(job *Job, task *Task, schemas map[string]*PackSchema) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, ref := range task.OutputRefs {
		if ref.Name == "" {
			continue
		}
		for _, id := range ref.Tasks {
			producer := job.Task(id)
			if producer == nil || schemas[producer.Pack] == nil {
				continue
			}
			ts := findTask(schemas[producer.Pack], producer.Task)
			if ts == nil || slices.Contains(ts.Outputs, ref.Name) {
				continue
			}
			detail := fmt.Sprintf("Task %q (task %q of pack %q) declares no output %q.%s", id, producer.Task, producer.Pack, ref.Name, didYouMean(ref.Name, ts.Outputs))
			if len(ts.Outputs) == 0 {
				detail += " It declares no outputs."
			} else {
				detail += " Its outputs are " + quotedList(ts.Outputs) + "."
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unknown output",
				Detail:   detail,
				Subject:  ref.Range.Ptr(),
			})
			break
		}
	}
	return diags
}

func findTask(s *PackSchema, name string) *TaskSchema {
	for i := range s.Tasks {
		if s.Tasks[i].Name == name {
			return &s.Tasks[i]
		}
	}
	return nil
}

// MergeArgs adds the values of task's deferred args, from EvalDeferred, to
// its checked args (a JSON object from CheckArgs), each converted to its
// type in schema (nil: as they are). The error says which argument has a
// value of the wrong type.
func MergeArgs(checked []byte, task *Task, schema *TaskSchema, vals map[string]cty.Value) ([]byte, error) {
	obj := map[string]json.RawMessage{}
	if len(checked) > 0 {
		if err := json.Unmarshal(checked, &obj); err != nil {
			return nil, fmt.Errorf("checked args: %w", err)
		}
	}
	for _, name := range sortedKeys(vals) {
		ty, required := cty.DynamicPseudoType, false
		if schema != nil {
			for _, a := range schema.Args {
				if a.Name == name {
					ty, required = a.Type, a.Required
				}
			}
		}
		if required && vals[name].IsNull() {
			return nil, fmt.Errorf("argument %q (%s) is required, but its value is null", name, rangeString(task.ArgRanges[name]))
		}
		val, err := convert.Convert(vals[name], ty)
		if err != nil {
			return nil, fmt.Errorf("argument %q (%s) must be %s: %w", name, rangeString(task.ArgRanges[name]), typeexpr.TypeString(ty), err)
		}
		raw, err := marshalValue(val, ty)
		if err != nil {
			return nil, fmt.Errorf("argument %q (%s): %w", name, rangeString(task.ArgRanges[name]), err)
		}
		obj[name] = raw
	}
	return json.Marshal(obj)
}
