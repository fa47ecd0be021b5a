package jobfile

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/taskhost/taskhost/internal/statekv"
)

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "job", LabelNames: []string{"name"}},
		{Type: "state"},
		{Type: "pack", LabelNames: []string{"name"}},
		{Type: "task", LabelNames: []string{"id"}},
		hookBlock,
	},
}

var jobSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "max_parallel"},
		{Name: "timeout"},
		{Name: "grace"},
	},
}

var packSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path", Required: true},
		{Name: "max_parallel"},
	},
}

var taskSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "pack", Required: true},
		{Name: "task", Required: true},
		{Name: "args"},
		{Name: "depends_on"},
		{Name: "timeout"},
		{Name: "grace"},
		{Name: "retries"},
	},
}

// validTaskID matches the task ids a jobfile may declare.
var validTaskID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// Load reads, parses, and checks the jobfile at path, using vars (from
// -var name=value on the command line) for its variables.
//
// The diagnostics include syntax errors; unknown blocks and attributes; a
// missing or duplicate job block; duplicate pack, task, and variable names;
// invalid task ids; bad durations; max_parallel below 1; tasks naming an
// undeclared pack; depends_on naming an undeclared task or the task itself;
// cycles in depends_on; args that are not an object; and args values that
// are not wholly known.
//
// Load returns a nil *Job when there are errors.
func Load(path string, vars map[string]string) (*Job, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read jobfile",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, err),
		}}
	}
	return LoadSource(path, src, vars)
}

// LoadSource is Load on a jobfile already read. The filename is used in
// diagnostic ranges and to resolve relative pack paths.
func LoadSource(filename string, src []byte, vars map[string]string) (*Job, hcl.Diagnostics) {
	file, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, diags
	}

	absFile, err := filepath.Abs(filename)
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid jobfile path",
			Detail:   fmt.Sprintf("Cannot make %s absolute: %s.", filename, err),
		})
		return nil, diags
	}

	content, moreDiags := file.Body.Content(rootSchema)
	diags = append(diags, moreDiags...)

	job := &Job{
		File:   absFile,
		Source: src,
	}
	l := &loader{
		dir:            filepath.Dir(absFile),
		dependsOnAttrs: make(map[string]*hcl.Attribute),
		dependsOnExprs: make(map[string]map[string]hcl.Expression),
	}

	var varBlocks hcl.Blocks
	for _, block := range content.Blocks {
		if block.Type == "variable" {
			varBlocks = append(varBlocks, block)
		}
	}
	job.Variables, moreDiags = decodeVariables(varBlocks, vars)
	diags = append(diags, moreDiags...)
	l.varsOK = !moreDiags.HasErrors()
	l.ctx = evalContext(job.Variables)

	var jobBlock *hcl.Block
	for _, block := range content.Blocks {
		switch block.Type {
		case "job":
			if jobBlock != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate job block",
					Detail:   fmt.Sprintf("A jobfile has exactly one job block; the first is at %s.", jobBlock.DefRange),
					Subject:  block.DefRange.Ptr(),
				})
				continue
			}
			jobBlock = block
			diags = append(diags, l.decodeJob(block, job)...)
		case "pack":
			pack, moreDiags := l.decodePack(block)
			diags = append(diags, moreDiags...)
			if prev := job.Pack(pack.Name); prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate pack name",
					Detail:   fmt.Sprintf("A pack named %q was already declared at %s.", pack.Name, prev.DeclRange),
					Subject:  block.LabelRanges[0].Ptr(),
				})
				continue
			}
			job.Packs = append(job.Packs, pack)
		case "state":
			diags = append(diags, l.decodeState(block, job)...)
		case "task":
			task, moreDiags := l.decodeTask(block)
			diags = append(diags, moreDiags...)
			if prev := job.Task(task.ID); prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate task id",
					Detail:   fmt.Sprintf("A task with id %q was already declared at %s.", task.ID, prev.DeclRange),
					Subject:  block.LabelRanges[0].Ptr(),
				})
				continue
			}
			job.Tasks = append(job.Tasks, task)
		case "hook":
			diags = append(diags, l.decodeHook(block, job)...)
		}
	}
	if jobBlock == nil {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing job block",
			Detail:   `A jobfile must have exactly one job block, like job "name" {}.`,
			Subject:  file.Body.MissingItemRange().Ptr(),
		})
	}

	diags = append(diags, l.checkPacks(job)...)
	diags = append(diags, l.checkHookPacks(job)...)
	diags = append(diags, l.checkDependencies(job)...)

	if diags.HasErrors() {
		return nil, diags
	}
	return job, diags
}

// validStateKey matches the keys of the run's shared state: dot-separated
// tokens of letters, digits, '-', '_', '=' and '/', not starting with '_'
// (the store's own keys).
var validStateKey = regexp.MustCompile(`^[-/=A-Za-z0-9][-/_=A-Za-z0-9]*(\.[-/_=A-Za-z0-9]+)*$`)

// decodeState reads a state block: initial values of the run's shared
// state, one attribute per key.
func (l *loader) decodeState(block *hcl.Block, job *Job) hcl.Diagnostics {
	attrs, diags := block.Body.JustAttributes()
	if job.State == nil {
		job.State = map[string]cty.Value{}
	}
	for name, attr := range attrs {
		if _, dup := job.State[name]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate state key",
				Detail:   fmt.Sprintf("The state key %q is set twice.", name),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		if !validStateKey.MatchString(name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid state key",
				Detail:   fmt.Sprintf("The state key %q is not valid: use letters, digits, '-', '_', '=' and '/', not starting with '_'.", name),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		v, ok, moreDiags := l.evalValue(attr, cty.DynamicPseudoType)
		diags = append(diags, moreDiags...)
		if !ok {
			continue
		}
		if b, err := ctyjson.Marshal(v, v.Type()); err == nil && len(b) > statekv.MaxValueBytes {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "State value too large",
				Detail:   fmt.Sprintf("The value of %q is %d bytes as JSON; the shared state takes at most %d.", name, len(b), statekv.MaxValueBytes),
				Subject:  attr.Expr.Range().Ptr(),
			})
			continue
		}
		job.State[name] = v
	}
	return diags
}

// loader holds what decoding one jobfile needs beyond the Job itself.
type loader struct {
	// dir is the absolute directory of the jobfile.
	dir string

	// ctx evaluates expressions.
	ctx *hcl.EvalContext

	// varsOK is false when a variable failed to resolve. Such variables
	// are unknown, and values depending on them are skipped silently
	// rather than reported again.
	varsOK bool

	// dependsOnAttrs holds each task's depends_on attribute, and
	// dependsOnExprs the expression of each of its dependencies, by task id.
	dependsOnAttrs map[string]*hcl.Attribute
	dependsOnExprs map[string]map[string]hcl.Expression
}

func (l *loader) decodeJob(block *hcl.Block, job *Job) hcl.Diagnostics {
	job.Name = block.Labels[0]
	job.DeclRange = block.DefRange

	content, diags := block.Body.Content(jobSchema)
	if !validTaskID.MatchString(job.Name) {
		// The name makes the run directory's name.
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid job name",
			Detail:   fmt.Sprintf("The job name %q is not valid: it names the run directory, so it must start with a letter or underscore and hold only letters, digits, underscores and dashes.", job.Name),
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}
	if attr, ok := content.Attributes["max_parallel"]; ok {
		var moreDiags hcl.Diagnostics
		job.MaxParallel, moreDiags = l.evalIntAtLeast(attr, 1)
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["timeout"]; ok {
		var moreDiags hcl.Diagnostics
		job.Timeout, moreDiags = l.evalDuration(attr)
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["grace"]; ok {
		var moreDiags hcl.Diagnostics
		job.Grace, moreDiags = l.evalDuration(attr)
		diags = append(diags, moreDiags...)
	}
	return diags
}

func (l *loader) decodePack(block *hcl.Block) (*Pack, hcl.Diagnostics) {
	pack := &Pack{
		Name:      block.Labels[0],
		DeclRange: block.DefRange,
	}

	content, diags := block.Body.Content(packSchema)
	if attr, ok := content.Attributes["path"]; ok {
		path, ok, moreDiags := l.evalString(attr)
		diags = append(diags, moreDiags...)
		if ok {
			if !filepath.IsAbs(path) {
				path = filepath.Join(l.dir, path)
			}
			pack.Path = filepath.Clean(path)
		}
	}
	if attr, ok := content.Attributes["max_parallel"]; ok {
		var moreDiags hcl.Diagnostics
		pack.MaxParallel, moreDiags = l.evalIntAtLeast(attr, 1)
		diags = append(diags, moreDiags...)
	}
	return pack, diags
}

func (l *loader) decodeTask(block *hcl.Block) (*Task, hcl.Diagnostics) {
	task := &Task{
		ID:        block.Labels[0],
		Args:      make(map[string]cty.Value),
		ArgRanges: make(map[string]hcl.Range),
		ArgsRange: block.DefRange,
		DeclRange: block.DefRange,
	}

	var diags hcl.Diagnostics
	if !validTaskID.MatchString(task.ID) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid task id",
			Detail:   "A task id must start with a letter or underscore and contain only letters, digits, underscores, and dashes.",
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}

	content, moreDiags := block.Body.Content(taskSchema)
	diags = append(diags, moreDiags...)

	if attr, ok := content.Attributes["pack"]; ok {
		task.PackRange = attr.Expr.Range()
		task.Pack, _, moreDiags = l.evalString(attr)
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["task"]; ok {
		task.TaskRange = attr.Expr.Range()
		task.Task, _, moreDiags = l.evalString(attr)
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["args"]; ok {
		task.ArgsRange = attr.Range
		diags = append(diags, l.decodeArgs(attr, task)...)
	}
	if attr, ok := content.Attributes["depends_on"]; ok {
		diags = append(diags, l.decodeDependsOn(attr, task)...)
	}
	if attr, ok := content.Attributes["timeout"]; ok {
		task.Timeout, moreDiags = l.evalDuration(attr)
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["grace"]; ok {
		task.Grace, moreDiags = l.evalDuration(attr)
		diags = append(diags, moreDiags...)
	}
	if attr, ok := content.Attributes["retries"]; ok {
		task.Retries, moreDiags = l.evalIntAtLeast(attr, 0)
		diags = append(diags, moreDiags...)
	}
	return task, diags
}

// decodeArgs fills task.Args and task.ArgRanges from the args attribute.
// An object constructor gives each argument its own range; any other
// expression must evaluate to an object or map, and all its arguments
// share the expression's range.
func (l *loader) decodeArgs(attr *hcl.Attribute, task *Task) hcl.Diagnostics {
	pairs, mapDiags := hcl.ExprMap(attr.Expr)
	if mapDiags.HasErrors() {
		return l.decodeArgsValue(attr, task)
	}

	var diags hcl.Diagnostics
	for _, pair := range pairs {
		keyVal, moreDiags := pair.Key.Value(l.ctx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() || !keyVal.IsKnown() {
			continue
		}
		if keyVal.IsNull() || !keyVal.Type().Equals(cty.String) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid argument name",
				Detail:   "An argument name must be a string.",
				Subject:  pair.Key.Range().Ptr(),
			})
			continue
		}
		name := keyVal.AsString()
		if prev, exists := task.ArgRanges[name]; exists {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate argument",
				Detail:   fmt.Sprintf("The argument %q was already set at %s.", name, prev),
				Subject:  pair.Key.Range().Ptr(),
			})
			continue
		}

		val, moreDiags := pair.Value.Value(l.ctx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		if !val.IsWhollyKnown() {
			if l.varsOK {
				diags = append(diags, notWhollyKnown(name, pair.Value.Range()))
			}
			continue
		}
		task.Args[name] = val
		task.ArgRanges[name] = pair.Value.Range()
	}
	return diags
}

func (l *loader) decodeArgsValue(attr *hcl.Attribute, task *Task) hcl.Diagnostics {
	rng := attr.Expr.Range()
	val, diags := attr.Expr.Value(l.ctx)
	if diags.HasErrors() {
		return diags
	}
	if !val.IsKnown() && !l.varsOK {
		return diags
	}
	ty := val.Type()
	if val.IsNull() || !(ty.IsObjectType() || ty.IsMapType()) {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid args",
			Detail:   fmt.Sprintf("The args argument must be an object, like { name = value }, not %s.", ty.FriendlyName()),
			Subject:  rng.Ptr(),
		})
	}
	if !val.IsKnown() {
		return append(diags, notWhollyKnown("args", rng))
	}
	for it := val.ElementIterator(); it.Next(); {
		k, v := it.Element()
		name := k.AsString()
		if !v.IsWhollyKnown() {
			if l.varsOK {
				diags = append(diags, notWhollyKnown(name, rng))
			}
			continue
		}
		task.Args[name] = v
		task.ArgRanges[name] = rng
	}
	return diags
}

func notWhollyKnown(name string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid args value",
		Detail:   fmt.Sprintf("The value of %q must be known when the jobfile is loaded.", name),
		Subject:  rng.Ptr(),
	}
}

// decodeDependsOn fills task.DependsOn from the depends_on attribute, a
// list of task.<id> references or task id strings.
func (l *loader) decodeDependsOn(attr *hcl.Attribute, task *Task) hcl.Diagnostics {
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		return diags
	}
	l.dependsOnAttrs[task.ID] = attr
	elems := make(map[string]hcl.Expression)
	l.dependsOnExprs[task.ID] = elems
	for _, expr := range exprs {
		id, ok := dependencyID(expr)
		if !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid dependency",
				Detail:   `A dependency must be a task reference like task.setup, or a task id string like "setup".`,
				Subject:  expr.Range().Ptr(),
			})
			continue
		}
		if _, dup := elems[id]; dup {
			continue
		}
		elems[id] = expr
		task.DependsOn = append(task.DependsOn, id)
	}
	return diags
}

// dependencyID returns the task id that one element of depends_on names.
func dependencyID(expr hcl.Expression) (string, bool) {
	if traversal, diags := hcl.AbsTraversalForExpr(expr); !diags.HasErrors() {
		if len(traversal) != 2 || traversal.RootName() != "task" {
			return "", false
		}
		attr, ok := traversal[1].(hcl.TraverseAttr)
		return attr.Name, ok
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() || !val.IsKnown() || val.IsNull() || !val.Type().Equals(cty.String) {
		return "", false
	}
	return val.AsString(), true
}

// checkPacks reports tasks that name an undeclared pack.
func (l *loader) checkPacks(job *Job) hcl.Diagnostics {
	var diags hcl.Diagnostics
	names := make([]string, len(job.Packs))
	for i, p := range job.Packs {
		names[i] = p.Name
	}
	for _, task := range job.Tasks {
		if task.Pack == "" || job.Pack(task.Pack) != nil {
			continue
		}
		detail := fmt.Sprintf("No pack named %q is declared.%s", task.Pack, didYouMean(task.Pack, names))
		if len(names) == 0 {
			detail += " This jobfile declares no packs."
		} else {
			detail += " Declared packs: " + quotedList(names) + "."
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown pack",
			Detail:   detail,
			Subject:  task.PackRange.Ptr(),
		})
	}
	return diags
}

// evalValue evaluates attr and converts the result to ty. It returns false
// when there were errors or when the value is unknown because a variable
// failed to resolve, which has already been reported.
func (l *loader) evalValue(attr *hcl.Attribute, ty cty.Type) (cty.Value, bool, hcl.Diagnostics) {
	val, diags := attr.Expr.Value(l.ctx)
	if diags.HasErrors() {
		return cty.NilVal, false, diags
	}
	if val.IsNull() {
		return cty.NilVal, false, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   fmt.Sprintf("The argument %q must not be null.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	val, err := convert.Convert(val, ty)
	if err != nil {
		return cty.NilVal, false, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for argument %q: %s.", attr.Name, err),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	if !val.IsWhollyKnown() {
		if l.varsOK {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid value",
				Detail:   fmt.Sprintf("The value of %q must be known when the jobfile is loaded.", attr.Name),
				Subject:  attr.Expr.Range().Ptr(),
			})
		}
		return cty.NilVal, false, diags
	}
	return val, true, diags
}

func (l *loader) evalString(attr *hcl.Attribute) (string, bool, hcl.Diagnostics) {
	val, ok, diags := l.evalValue(attr, cty.String)
	if !ok {
		return "", false, diags
	}
	if val.AsString() == "" {
		return "", false, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   fmt.Sprintf("The argument %q must not be empty.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	return val.AsString(), true, diags
}

// evalIntAtLeast evaluates a whole number of at least low; 0 with errors
// otherwise.
func (l *loader) evalIntAtLeast(attr *hcl.Attribute, low int) (int, hcl.Diagnostics) {
	n, ok, diags := l.evalInt(attr)
	if ok && n < low {
		return 0, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid " + attr.Name,
			Detail:   fmt.Sprintf("The %s argument must be at least %d, not %d.", attr.Name, low, n),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	return n, diags
}

func (l *loader) evalInt(attr *hcl.Attribute) (int, bool, hcl.Diagnostics) {
	val, ok, diags := l.evalValue(attr, cty.Number)
	if !ok {
		return 0, false, diags
	}
	var n int
	if err := gocty.FromCtyValue(val, &n); err != nil {
		return 0, false, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for argument %q: %s.", attr.Name, err),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	return n, true, diags
}

// evalDuration evaluates attr as a Go duration string, which must be
// greater than zero.
func (l *loader) evalDuration(attr *hcl.Attribute) (time.Duration, hcl.Diagnostics) {
	s, ok, diags := l.evalString(attr)
	if !ok {
		return 0, diags
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("The %s argument must be a duration like \"30s\" or \"10m\": %s.", attr.Name, err),
			Subject:  attr.Expr.Range().Ptr(),
		})
	case d <= 0:
		return 0, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid duration",
			Detail:   fmt.Sprintf("The %s argument must be greater than zero.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	return d, diags
}
