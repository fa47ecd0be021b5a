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
	indexes := map[*TaskSchema]*argIndex{}
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
		ix := indexes[taskSchema]
		if ix == nil {
			ix = newArgIndex(taskSchema)
			indexes[taskSchema] = ix
		}
		args, moreDiags := checkTaskArgs(task, taskSchema, ix)
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
	if ts := findTask(schema, task.Task); ts != nil {
		return ts, nil
	}
	names := make([]string, len(schema.Tasks))
	for i := range schema.Tasks {
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

// argIndex is a task schema's arguments by name, made once for all the
// tasks checked against the schema.
type argIndex struct {
	accepted map[string]*ArgSchema
	names    []string
}

func newArgIndex(schema *TaskSchema) *argIndex {
	ix := &argIndex{accepted: make(map[string]*ArgSchema, len(schema.Args)), names: make([]string, len(schema.Args))}
	for i := range schema.Args {
		ix.accepted[schema.Args[i].Name] = &schema.Args[i]
		ix.names[i] = schema.Args[i].Name
	}
	return ix
}

// checkTaskArgs checks task's args against schema (ix: its index, nil to
// make one), and returns them converted and encoded as a JSON object.
func checkTaskArgs(task *Task, schema *TaskSchema, ix *argIndex) ([]byte, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if ix == nil {
		ix = newArgIndex(schema)
	}
	accepted, acceptedNames := ix.accepted, ix.names

	names := make([]string, 0, len(task.Args)+len(task.Deferred))
	for name := range task.Args {
		names = append(names, name)
	}
	for name := range task.Deferred {
		names = append(names, name)
	}
	sort.Strings(names)

	encoded := make([]json.RawMessage, len(names))
	for i, name := range names {
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
		encoded[i] = raw
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
	return encodeObject(names, encoded), diags
}

// encodeObject writes the JSON object of names (sorted, without
// duplicates) and their values, skipping the names without a value
// (nil): the bytes json.Marshal writes for the map of them, since each
// value is compact JSON from marshalValue, with HTML characters escaped
// as json.Marshal does.
func encodeObject(names []string, vals []json.RawMessage) []byte {
	n := 2
	for i, name := range names {
		if vals[i] != nil {
			n += len(name) + 4 + len(vals[i])
		}
	}
	out := make([]byte, 0, n)
	out = append(out, '{')
	first := true
	for i, name := range names {
		if vals[i] == nil {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendJSONString(out, name)
		out = append(out, ':')
		out = append(out, vals[i]...)
	}
	return append(out, '}')
}

// appendJSONString appends s as a JSON string, as json.Marshal writes it.
func appendJSONString(out []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, err := json.Marshal(s)
			if err != nil {
				panic(err) // a string always encodes
			}
			return append(out, q...)
		}
	}
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"')
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
