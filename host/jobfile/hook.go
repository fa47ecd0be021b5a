package jobfile

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Hook is a hook block: a hook of a pack that runs around the job and
// each task, at the stages the pack says it serves.
type Hook struct {
	// Name is the label of the hook block, unique in the job.
	Name string

	// Pack is the name of the pack block that serves the hook.
	Pack string

	// Hook is the name of the hook inside the pack.
	Hook string

	// Args are the evaluated arguments, all wholly known; an empty map
	// when there are none.
	Args map[string]cty.Value

	// ArgRanges holds the range of each argument's value expression.
	ArgRanges map[string]hcl.Range

	// ArgsRange is the range of the args attribute, or DeclRange.
	ArgsRange hcl.Range

	// Order places the hook among the others: pre stages run in
	// ascending order, post stages in descending order; hooks of equal
	// order keep file order (reversed for post stages).
	Order int

	// Timeout bounds each call of the hook, or is 0 when not set.
	Timeout time.Duration

	// DeclRange is the range of the hook block's header; PackRange and
	// HookRange those of the pack and hook attributes' values.
	DeclRange, PackRange, HookRange hcl.Range
}

var hookSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "pack", Required: true},
		{Name: "hook", Required: true},
		{Name: "args"},
		{Name: "order"},
		{Name: "timeout"},
	},
}

// hookBlock is the root schema's entry for hook blocks.
var hookBlock = hcl.BlockHeaderSchema{Type: "hook", LabelNames: []string{"name"}}

// decodeHook reads a hook block into job.Hooks.
func (l *loader) decodeHook(block *hcl.Block, job *Job) hcl.Diagnostics {
	h := &Hook{Name: block.Labels[0], DeclRange: block.DefRange, ArgsRange: block.DefRange}
	var diags hcl.Diagnostics
	if !validTaskID.MatchString(h.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid hook name",
			Detail:   "A hook name must start with a letter or underscore and contain only letters, digits, underscores, and dashes.",
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}
	for _, prev := range job.Hooks {
		if prev.Name == h.Name {
			return append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate hook name",
				Detail:   fmt.Sprintf("A hook named %q was already declared at %s.", h.Name, prev.DeclRange),
				Subject:  block.LabelRanges[0].Ptr(),
			})
		}
	}
	content, moreDiags := block.Body.Content(hookSchema)
	diags = append(diags, moreDiags...)
	if attr, ok := content.Attributes["pack"]; ok {
		h.PackRange = attr.Expr.Range()
		h.Pack, _, moreDiags = l.evalString(attr)
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["hook"]; ok {
		h.HookRange = attr.Expr.Range()
		h.Hook, _, moreDiags = l.evalString(attr)
		diags = append(diags, moreDiags...)
	}
	// Arguments decode as a task's do.
	t := &Task{ID: h.Name, Args: map[string]cty.Value{}, ArgRanges: map[string]hcl.Range{}}
	if attr, ok := content.Attributes["args"]; ok {
		h.ArgsRange = attr.Range
		diags = append(diags, l.decodeArgs(attr, t)...)
	}
	h.Args, h.ArgRanges = t.Args, t.ArgRanges
	if attr, ok := content.Attributes["order"]; ok {
		var n int
		n, _, moreDiags = l.evalInt(attr)
		h.Order = n
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["timeout"]; ok {
		h.Timeout, moreDiags = l.evalDuration(attr)
		diags = append(diags, moreDiags...)
	}
	job.Hooks = append(job.Hooks, h)
	return diags
}

// HooksInOrder returns the job's hooks in the order their pre stages run:
// by Order, then file order. Post stages run in the reverse of it.
func (j *Job) HooksInOrder() []*Hook {
	out := append([]*Hook(nil), j.Hooks...)
	sort.SliceStable(out, func(a, b int) bool { return out[a].Order < out[b].Order })
	return out
}

// CheckHookArgs checks every hook of job against the hooks its pack
// serves (PackSchema.Hooks, keyed by the jobfile's pack block names), as
// CheckArgs does for tasks, and returns each hook's arguments as a JSON
// object by hook name; nil when there are errors.
func CheckHookArgs(job *Job, schemas map[string]*PackSchema) (map[string][]byte, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	encoded := make(map[string][]byte, len(job.Hooks))
	for _, h := range job.Hooks {
		schema := schemas[h.Pack]
		if schema == nil {
			continue // the pack could not be described: the hook fails when it runs
		}
		var hs *TaskSchema
		names := make([]string, len(schema.Hooks))
		for i := range schema.Hooks {
			if schema.Hooks[i].Name == h.Hook {
				hs = &schema.Hooks[i]
			}
			names[i] = schema.Hooks[i].Name
		}
		if hs == nil {
			detail := fmt.Sprintf("Pack %q has no hook %q.%s", h.Pack, h.Hook, didYouMean(h.Hook, names))
			if len(names) == 0 {
				detail += " It serves no hooks."
			} else {
				detail += " Its hooks are " + quotedList(names) + "."
			}
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown hook", Detail: detail, Subject: h.HookRange.Ptr()})
			continue
		}
		t := &Task{ID: h.Name, Pack: h.Pack, Task: h.Hook, Args: h.Args, ArgRanges: h.ArgRanges, ArgsRange: h.ArgsRange}
		args, moreDiags := checkTaskArgs(t, hs, nil)
		for _, d := range moreDiags {
			// The messages speak of tasks; this is a hook.
			d.Detail = strings.Replace(d.Detail, fmt.Sprintf("Task %q", h.Hook), fmt.Sprintf("Hook %q", h.Hook), 1)
			d.Detail = strings.Replace(d.Detail, fmt.Sprintf("of task %q", h.Hook), fmt.Sprintf("of hook %q", h.Hook), 1)
		}
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			encoded[h.Name] = args
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return encoded, diags
}
