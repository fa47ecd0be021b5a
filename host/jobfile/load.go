package jobfile

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
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
		{Type: "locals"},
		{Type: "required_packs"},
		hookBlock,
	},
}

var jobSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "max_parallel"},
		{Name: "timeout"},
		{Name: "grace"},
		{Name: "archive"},
		{Name: "max_run_bytes"},
		{Name: "max_task_bytes"},
		{Name: "max_task_events"},
		{Name: "max_event_bytes"},
		{Name: "max_state_bytes"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "placement"},
	},
}

// The least and most that the limits on what tasks send may be set to
// (host/hub Limits).
const (
	minSendLimit      = 1024
	maxEventBytesHigh = 512 << 10
)

var packSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "path"}, // or the pack is named in required_packs
		{Name: "max_parallel"},
		{Name: "start_timeout"},
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
		{Name: "count"},
		{Name: "for_each"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "args"},
		{Type: "placement"},
	},
}

// validTaskID matches the task ids a jobfile may declare.
var validTaskID = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// Load reads, parses, and checks the jobfile at path, using vars (from
// -var name=value on the command line) for its variables. It is LoadWith
// with only Options.Vars.
func Load(path string, vars map[string]string) (*Job, hcl.Diagnostics) {
	return LoadWith(path, Options{Vars: vars})
}

// LoadWith reads, parses, and checks the jobfile at path, with the
// variable values of opts.
//
// The diagnostics include syntax errors; unknown blocks and attributes; a
// missing or duplicate job block; duplicate pack, task, variable and local
// names; variables without a value, of the wrong type, or failing their
// validation; invalid task ids, count and for_each; bad durations;
// max_parallel below 1; tasks naming an undeclared pack; depends_on and
// task references naming an undeclared task or the task itself; cycles;
// args that are not an object; and args values that are not wholly known
// (other than those using task outputs, which are evaluated when their
// task starts).
//
// LoadWith returns a nil *Job when there are errors.
func LoadWith(path string, opts Options) (*Job, hcl.Diagnostics) {
	src, err := readFile(path, MaxSourceBytes)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read jobfile",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, err),
		}}
	}
	return LoadSourceWith(path, src, opts)
}

// LoadSource is Load on a jobfile already read. The filename is used in
// diagnostic ranges and to resolve relative pack paths.
func LoadSource(filename string, src []byte, vars map[string]string) (*Job, hcl.Diagnostics) {
	return LoadSourceWith(filename, src, Options{Vars: vars})
}

// LoadSourceWith is LoadWith on a jobfile already read.
//
// Every limit of the language is checked on the way (see MaxFileBytes and
// the others, and docs/jobfile.md): a jobfile past one is refused with a
// diagnostic on its line, however it is written. Only the first
// MaxDiagnostics diagnostics are returned, and one more that counts the
// rest (ErrorCount counts them all).
func LoadSourceWith(filename string, src []byte, opts Options) (*Job, hcl.Diagnostics) {
	m := newMeter()
	if opts.MaxTasks > 0 {
		m.maxTasks = opts.MaxTasks
	}
	if opts.MaxWork > 0 {
		m.maxWork = opts.MaxWork
	}
	return loadWithMeter(filename, src, opts, m)
}

func loadWithMeter(filename string, src []byte, opts Options, m *meter) (job *Job, diags hcl.Diagnostics) {
	if stop := m.run(func() { job, diags = loadSource(filename, src, opts, m) }); stop != nil {
		return nil, hcl.Diagnostics{stop}
	}
	rewriteLimitDiags(diags)
	diags = capDiagnostics(diags)
	suggestAttributes(diags)
	return job, diags
}

func loadSource(filename string, src []byte, opts Options, m *meter) (*Job, hcl.Diagnostics) {
	if diags := checkSource(src, filename, sourceConfig); diags.HasErrors() {
		return nil, diags
	}
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
		dir:     filepath.Dir(absFile),
		bases:   map[string]*taskBlock{},
		depAttr: map[string]hcl.Range{},
	}
	l.meter, l.fns = m, m.functions(l.dir)
	l.literal = &hcl.EvalContext{Functions: m.hooks()}
	l.body = file.Body.(*hclsyntax.Body)
	if moreDiags := m.instrument(file.Body.(*hclsyntax.Body), l.fns); moreDiags.HasErrors() {
		return nil, append(diags, moreDiags...)
	}

	var varBlocks, localBlocks, taskBlocks hcl.Blocks
	for _, block := range content.Blocks {
		switch block.Type {
		case "variable":
			varBlocks = append(varBlocks, block)
		case "locals":
			localBlocks = append(localBlocks, block)
		case "task":
			taskBlocks = append(taskBlocks, block)
		}
	}
	vars, declared, moreDiags := l.decodeVariables(varBlocks, opts)
	diags = append(diags, moreDiags...)
	l.varsOK = !moreDiags.HasErrors()
	job.Variables = make(map[string]cty.Value, len(vars))
	for name, v := range vars {
		job.Variables[name], _ = v.Unmark()
		if d := declared[name]; d != nil && d.Sensitive {
			if job.Sensitive == nil {
				job.Sensitive = map[string]bool{}
			}
			job.Sensitive[name] = true
			if d.HasDefault {
				job.redact = append(job.redact, d.DefaultRange)
			}
		}
	}
	locals, moreDiags := l.decodeLocals(localBlocks, vars)
	diags = append(diags, moreDiags...)
	l.varsOK = l.varsOK && !moreDiags.HasErrors()
	l.ctx = evalContext(vars, locals, l.fns)

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
		case "required_packs":
			diags = append(diags, l.decodeRequiredPacks(block, job)...)
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

	diags = append(diags, l.decodeTasks(taskBlocks, job)...)
	diags = append(diags, l.linkRequiredPacks(job)...)
	diags = append(diags, l.checkPacks(job)...)
	diags = append(diags, l.checkDependencies(job)...)

	diags = dedupe(diags)
	if diags.HasErrors() {
		return nil, diags
	}
	job.sensitive = l.sensitive
	return job, diags
}

// decodeTasks expands the task blocks and decodes every instance, in file
// order, with task.ID references resolved.
func (l *loader) decodeTasks(blocks hcl.Blocks, job *Job) hcl.Diagnostics {
	tbs, diags := l.readTaskBlocks(blocks)
	l.scope = &refScope{bases: l.bases, meter: l.meter}
	objs := make(map[string]cty.Value, len(tbs))
	unknown := func(string) cty.Value { return cty.DynamicVal }
	// Only the tasks some expression reads need their object: the
	// others' stay unknown (a for_each of 10,000 instances makes 10,000
	// objects).
	used, all := taskNamesUsed(l.body)
	for _, tb := range tbs {
		if tb.failed || (!all && !used[tb.base]) {
			objs[tb.base] = cty.DynamicVal
			continue
		}
		objs[tb.base] = taskObject(tb, unknown)
	}
	vars := make(map[string]cty.Value, len(l.ctx.Variables)+1)
	for k, v := range l.ctx.Variables {
		vars[k] = v
	}
	vars["task"] = cty.ObjectVal(objs)
	base := &hcl.EvalContext{Variables: vars, Functions: l.ctx.Functions}
	l.ctx, l.base = base, base
	job.byID = make(map[string]int)
	l.placement = job.Placement
	for _, tb := range tbs {
		for i := range tb.ids {
			l.meter.chargeAt(1+len(tb.content.Attributes), tb.block.DefRange)
			task, moreDiags := l.decodeTask(tb, i)
			diags = append(diags, moreDiags...)
			if _, dup := job.byID[task.ID]; dup {
				// Only possible through a for_each key equal to another's.
				continue
			}
			job.byID[task.ID] = len(job.Tasks)
			job.Tasks = append(job.Tasks, task)
		}
	}
	return diags
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

	// ctx evaluates expressions: base, or the context of the task
	// instance being decoded.
	ctx  *hcl.EvalContext
	base *hcl.EvalContext

	// varsOK is false when a variable or local failed to resolve. Such
	// values are unknown, and values depending on them are skipped
	// silently rather than reported again.
	varsOK bool

	// bases holds each task block by its label, and baseNames the labels
	// in file order.
	bases     map[string]*taskBlock
	baseNames []string
	scope     *refScope
	// refFailed is set when a reference named a task whose count or
	// for_each failed: what uses it is not reported again.
	refFailed bool

	// depAttr holds, by task id, the range of the attribute that holds
	// its dependencies (depends_on, else args).
	depAttr map[string]hcl.Range

	// sensitive holds the parts of args computed from sensitive values.
	sensitive []string

	// withPath holds the names of the pack blocks with a path attribute,
	// even one that did not evaluate.
	withPath map[string]bool

	// meter keeps the evaluation within the limits; fns are the functions
	// of expressions, validateFns those of validation conditions (no file
	// functions), literal the context of expressions that may use neither
	// variables nor functions.
	meter       *meter
	tasks       int // the tasks the task blocks make so far
	suggested   int // calls of didYouMean so far
	fns         map[string]function.Function
	validateFns map[string]function.Function
	literal     *hcl.EvalContext

	// placement is the job's default placement, for the tasks without
	// a placement block.
	placement Placement

	// exprs holds what was found of each expression's shape, for the
	// next task instance evaluating it (exprInfo).
	exprs map[hclsyntax.Expression]*exprInfo

	// body is the jobfile's.
	body *hclsyntax.Body
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
	if attr, ok := content.Attributes["archive"]; ok {
		val, ok, moreDiags := l.evalValue(attr, cty.Bool)
		diags = append(diags, moreDiags...)
		job.Archive = ok && val.True()
	}
	for _, lim := range []struct {
		name string
		dst  *int64
	}{{"max_run_bytes", &job.MaxRunBytes}, {"max_task_bytes", &job.MaxTaskBytes},
		{"max_task_events", &job.MaxTaskEvents}, {"max_event_bytes", &job.MaxEventBytes},
		{"max_state_bytes", &job.MaxStateBytes}} {
		name, dst := lim.name, lim.dst
		if attr, ok := content.Attributes[name]; ok {
			n, moreDiags := l.evalIntAtLeast(attr, minSendLimit)
			diags = append(diags, moreDiags...)
			if name == "max_event_bytes" && n > maxEventBytesHigh {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid " + name,
					Detail:   fmt.Sprintf("The %s argument must be at most %d (the largest event the SDK sends), not %d.", name, maxEventBytesHigh, n),
					Subject:  attr.Expr.Range().Ptr(),
				})
				n = 0
			}
			*dst = int64(n)
		}
	}
	p, _, moreDiags := l.decodePlacementBlocks(content.Blocks)
	job.Placement = p
	return append(diags, moreDiags...)
}

func (l *loader) decodePack(block *hcl.Block) (*Pack, hcl.Diagnostics) {
	pack := &Pack{
		Name:      block.Labels[0],
		DeclRange: block.DefRange,
	}

	content, diags := block.Body.Content(packSchema)
	if attr, ok := content.Attributes["path"]; ok {
		l.packWithPath(pack.Name)
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
	if attr, ok := content.Attributes["start_timeout"]; ok {
		var moreDiags hcl.Diagnostics
		pack.StartTimeout, moreDiags = l.evalDuration(attr)
		diags = append(diags, moreDiags...)
	}
	return pack, diags
}

// decodeTask decodes instance i of the task block tb.
func (l *loader) decodeTask(tb *taskBlock, i int) (*Task, hcl.Diagnostics) {
	block, content := tb.block, tb.content
	task := &Task{
		ID:        tb.ids[i],
		Name:      tb.base,
		Args:      make(map[string]cty.Value),
		ArgRanges: make(map[string]hcl.Range),
		ArgsRange: block.DefRange,
		DeclRange: block.DefRange,
	}
	if tb.expanded() {
		task.Key = tb.keys[i]
	}
	l.ctx = instanceContext(l.base, tb, i)
	defer func() { l.ctx = l.base }()
	task.ctx = l.ctx
	task.scope = l.scope

	var diags, moreDiags hcl.Diagnostics
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
	argsBlocks := content.Blocks.OfType("args")
	if attr, ok := content.Attributes["args"]; ok {
		task.ArgsRange = attr.Range
		l.depAttr[task.ID] = attr.Range
		diags = append(diags, l.decodeArgs(attr, task)...)
		if len(argsBlocks) > 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate args",
				Detail:   "A task takes an args attribute or an args block, not both.",
				Subject:  argsBlocks[0].DefRange.Ptr(),
			})
		}
	} else if len(argsBlocks) > 0 {
		task.ArgsRange = argsBlocks[0].DefRange
		diags = append(diags, l.decodeArgsBlocks(argsBlocks, task)...)
	}
	if attr, ok := content.Attributes["depends_on"]; ok {
		l.depAttr[task.ID] = attr.Range
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
	task.Placement = l.placement
	task.Placement.Labels = maps.Clone(l.placement.Labels)
	if p, ok, moreDiags := l.decodePlacementBlocks(content.Blocks); ok {
		task.Placement = p
		diags = append(diags, moreDiags...)
	}
	return task, diags
}

// addDependency records that task depends on id, made by the expression
// at rng.
func (l *loader) addDependency(task *Task, id string, rng hcl.Range) {
	l.meter.chargeAt(1, rng)
	if task.depSet != nil {
		if task.depSet[id] {
			return
		}
		task.depSet[id] = true
	} else if slices.Contains(task.DependsOn, id) {
		return
	} else if len(task.DependsOn) >= 16 {
		// Many dependencies (every instance of a large for_each): a set.
		task.depSet = make(map[string]bool, 2*len(task.DependsOn))
		for _, d := range task.DependsOn {
			task.depSet[d] = true
		}
		task.depSet[id] = true
	}
	task.DependsOn = append(task.DependsOn, id)
	task.depRanges = append(task.depRanges, rng)
}

// decodeArgs fills task.Args and task.ArgRanges from the args attribute.
// An object constructor gives each argument its own range; any other
// expression must evaluate to an object or map, and all its arguments
// share the expression's range. An argument that uses task outputs is
// kept in task.Deferred, and the tasks it reads are dependencies.
func (l *loader) decodeArgs(attr *hcl.Attribute, task *Task) hcl.Diagnostics {
	pairs, mapDiags := l.exprMap(attr.Expr)
	if mapDiags.HasErrors() {
		deps, _, diags := l.taskRefs(attr.Expr)
		if len(deps) > 0 {
			return append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid args",
				Detail:   "Args that use other tasks must be an object written in place, like { addr = task.setup.output.addr }, so that each argument can wait for its tasks.",
				Subject:  attr.Expr.Range().Ptr(),
			})
		}
		return append(diags, l.decodeArgsValue(attr, task)...)
	}

	var diags hcl.Diagnostics
	for _, pair := range pairs {
		keyVal, moreDiags := l.meter.value(pair.Key, l.ctx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() || !keyVal.IsKnown() {
			continue
		}
		keyVal, _ = keyVal.Unmark()
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

		l.refFailed = false
		deps, refs, moreDiags := l.taskRefs(pair.Value)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() || l.refFailed {
			continue
		}
		val, moreDiags := l.loadValue(pair.Value)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		if len(deps) > 0 {
			for _, id := range deps {
				l.addDependency(task, id, pair.Value.Range())
			}
			task.OutputRefs = append(task.OutputRefs, refs...)
			if task.Deferred == nil {
				task.Deferred = map[string]hcl.Expression{}
			}
			task.Deferred[name] = pair.Value
			task.ArgRanges[name] = pair.Value.Range()
			continue
		}
		if !val.IsWhollyKnown() {
			if l.varsOK {
				diags = append(diags, notWhollyKnown(name, pair.Value.Range()))
			}
			continue
		}
		if val.IsMarked() || !val.Type().IsPrimitiveType() {
			// A primitive value without a mark has nothing to strip.
			l.noteSensitive(val)
			val, _ = val.UnmarkDeep()
		}
		task.Args[name] = val
		task.ArgRanges[name] = pair.Value.Range()
	}
	return diags
}

func (l *loader) decodeArgsValue(attr *hcl.Attribute, task *Task) hcl.Diagnostics {
	rng := attr.Expr.Range()
	val, diags := l.meter.value(attr.Expr, l.ctx)
	if diags.HasErrors() {
		return diags
	}
	if !val.IsKnown() && !l.varsOK {
		return diags
	}
	l.noteSensitive(val)
	val, _ = val.UnmarkDeep()
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

// decodeDependsOn adds to task.DependsOn from the depends_on attribute, a
// list of task references (task.setup, task.ping["r1"], task.ping for
// every instance) or task id strings.
func (l *loader) decodeDependsOn(attr *hcl.Attribute, task *Task) hcl.Diagnostics {
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		return diags
	}
	for _, expr := range exprs {
		ids, moreDiags := l.dependencyIDs(expr)
		diags = append(diags, moreDiags...)
		for _, id := range ids {
			l.addDependency(task, id, expr.Range())
		}
	}
	return diags
}

// checkPacks reports tasks and hooks that name an undeclared pack.
func (l *loader) checkPacks(job *Job) hcl.Diagnostics {
	var diags hcl.Diagnostics
	names := make([]string, len(job.Packs))
	for i, p := range job.Packs {
		names[i] = p.Name
	}
	for _, task := range job.Tasks {
		if d := l.unknownPack(job, names, task.Pack, task.PackRange); d != nil {
			diags = append(diags, d)
		}
	}
	for _, h := range job.Hooks {
		if d := l.unknownPack(job, names, h.Pack, h.PackRange); d != nil {
			diags = append(diags, d)
		}
	}
	return diags
}

// unknownPack is the diagnostic for a pack name at rng that no pack block
// declares (names are the declared ones), or nil when the name is empty or
// declared.
func (l *loader) unknownPack(job *Job, names []string, name string, rng hcl.Range) *hcl.Diagnostic {
	if name == "" || job.Pack(name) != nil {
		return nil
	}
	detail := fmt.Sprintf("No pack named %q is declared.%s", name, l.didYouMean(name, names))
	if len(names) == 0 {
		detail += " This jobfile declares no packs."
	} else {
		detail += " Declared packs: " + quotedList(names) + "."
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Unknown pack", Detail: detail, Subject: rng.Ptr()}
}

// evalValue evaluates attr and converts the result to ty. It returns false
// when there were errors or when the value is unknown because a variable
// failed to resolve, which has already been reported.
func (l *loader) evalValue(attr *hcl.Attribute, ty cty.Type) (cty.Value, bool, hcl.Diagnostics) {
	val, diags := l.meter.value(attr.Expr, l.ctx)
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
	if val.ContainsMarked() {
		return cty.NilVal, false, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Sensitive value not allowed here",
			Detail:   fmt.Sprintf("The value of %q comes from a sensitive variable; sensitive values may be used only in task args.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	val, err := convertChecked(val, ty)
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
