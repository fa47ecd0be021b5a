package jobfile

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// ArgSchema is one argument a pack task accepts.
type ArgSchema struct {
	// Name is the argument's name.
	Name string

	// Type is the argument's type; cty.DynamicPseudoType accepts anything.
	Type cty.Type

	// Required is true when the argument must be given.
	Required bool
}

// TaskSchema describes one task a pack serves.
type TaskSchema struct {
	// Name is the task's name inside the pack.
	Name string

	// Args are the arguments the task accepts.
	Args []ArgSchema

	// Outputs are the names of the outputs the task may set.
	Outputs []string
}

// PackSchema is what a pack describes about itself.
type PackSchema struct {
	// Name is the name the pack gives itself, which need not match the
	// jobfile's pack block name.
	Name string

	// Tasks are the tasks the pack serves.
	Tasks []TaskSchema

	// Hooks are the hooks the pack serves, described as tasks are.
	Hooks []TaskSchema
}

// CheckArgs checks every task of job against the schema of its pack, with
// schemas keyed by the jobfile's pack block names, and converts each
// argument to its schema type.
//
// The diagnostics report a pack without a schema, a task the pack does not
// serve, an argument the task does not accept, a missing required argument,
// and a value that cannot be converted to its argument's type.
//
// On success it returns, for each task id, the task's arguments encoded as
// a JSON object, each value encoded as its schema type (or as its own type
// when the schema type is cty.DynamicPseudoType). It returns a nil map when
// there are errors.
func CheckArgs(job *Job, schemas map[string]*PackSchema) (map[string][]byte, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	encoded := make(map[string][]byte, len(job.Tasks))
	for _, task := range job.Tasks {
		schema := schemas[task.Pack]
		if schema == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing pack schema",
				Detail:   fmt.Sprintf("No schema is known for pack %q.", task.Pack),
				Subject:  task.PackRange.Ptr(),
			})
			continue
		}
		taskSchema, moreDiags := findTaskSchema(task, schema)
		diags = append(diags, moreDiags...)
		if taskSchema == nil {
			continue
		}
		diags = append(diags, checkOutputRefs(job, task, schemas)...)
		args, moreDiags := checkTaskArgs(task, taskSchema)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			encoded[task.ID] = args
		}
	}
	diags = dedupe(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	return encoded, diags
}

func findTaskSchema(task *Task, schema *PackSchema) (*TaskSchema, hcl.Diagnostics) {
	names := make([]string, len(schema.Tasks))
	for i := range schema.Tasks {
		if schema.Tasks[i].Name == task.Task {
			return &schema.Tasks[i], nil
		}
		names[i] = schema.Tasks[i].Name
	}
	detail := fmt.Sprintf("Pack %q has no task %q.%s", task.Pack, task.Task, didYouMean(task.Task, names))
	if len(names) == 0 {
		detail += " It serves no tasks."
	} else {
		detail += " Its tasks are " + quotedList(names) + "."
	}
	return nil, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Unknown task",
		Detail:   detail,
		Subject:  task.TaskRange.Ptr(),
	}}
}

// checkTaskArgs checks task's args against schema, and returns them
// converted and encoded as a JSON object.
func checkTaskArgs(task *Task, schema *TaskSchema) ([]byte, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	accepted := make(map[string]*ArgSchema, len(schema.Args))
	acceptedNames := make([]string, len(schema.Args))
	for i := range schema.Args {
		accepted[schema.Args[i].Name] = &schema.Args[i]
		acceptedNames[i] = schema.Args[i].Name
	}

	names := make([]string, 0, len(task.Args)+len(task.Deferred))
	for name := range task.Args {
		names = append(names, name)
	}
	for name := range task.Deferred {
		names = append(names, name)
	}
	sort.Strings(names)

	encoded := make(map[string]json.RawMessage, len(names))
	for _, name := range names {
		rng := task.ArgRanges[name]
		arg := accepted[name]
		if arg == nil {
			detail := fmt.Sprintf("Task %q of pack %q has no argument %q.%s", task.Task, task.Pack, name, didYouMean(name, acceptedNames))
			if len(acceptedNames) == 0 {
				detail += " It accepts no arguments."
			} else {
				detail += " It accepts " + quotedList(acceptedNames) + "."
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   detail,
				Subject:  rng.Ptr(),
			})
			continue
		}
		if _, later := task.Deferred[name]; later {
			// Checked when the task starts, once the outputs it reads are known.
			continue
		}

		val, err := convertChecked(task.Args[name], arg.Type)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid argument value",
				Detail:   fmt.Sprintf("The argument %q of task %q must be %s: %s.", name, task.Task, typeexpr.TypeString(arg.Type), err),
				Subject:  rng.Ptr(),
			})
			continue
		}
		raw, err := marshalValue(val, arg.Type)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid argument value",
				Detail:   fmt.Sprintf("The argument %q of task %q cannot be encoded: %s.", name, task.Task, err),
				Subject:  rng.Ptr(),
			})
			continue
		}
		encoded[name] = raw
	}

	for _, arg := range schema.Args {
		if _, later := task.Deferred[arg.Name]; later {
			continue
		}
		if val, ok := task.Args[arg.Name]; arg.Required && (!ok || val.IsNull()) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("Task %q of pack %q requires the argument %q.", task.Task, task.Pack, arg.Name),
				Subject:  task.ArgsRange.Ptr(),
			})
		}
	}

	if diags.HasErrors() {
		return nil, diags
	}
	out, err := json.Marshal(encoded)
	if err != nil {
		// Each value is valid JSON from cty, so this cannot happen.
		panic(err)
	}
	return out, diags
}

// marshalValue encodes val as JSON for the schema type ty. A value for
// cty.DynamicPseudoType is encoded as its own type, without the type
// information cty would otherwise wrap it in.
func marshalValue(val cty.Value, ty cty.Type) (json.RawMessage, error) {
	if val.IsNull() {
		return json.RawMessage("null"), nil
	}
	if ty.Equals(cty.DynamicPseudoType) {
		ty = val.Type()
	}
	// Whole numbers are the common case, and cty's own encoding formats
	// every number through a 512-bit float, which is slow.
	if ty == cty.Number && val.IsKnown() {
		if i, acc := val.AsBigFloat().Int64(); acc == big.Exact {
			return strconv.AppendInt(nil, i, 10), nil
		}
	}
	return ctyjson.Marshal(val, ty)
}
