package jobfile

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/gocty"
)

// taskBlock is a task block before its instances are decoded: one
// instance, or one per count index or for_each key.
type taskBlock struct {
	block   *hcl.Block
	content *hcl.BodyContent
	base    string

	// forEach or count is set when the block is expanded.
	forEach bool
	count   bool

	// keys are the count indexes (numbers) or for_each keys (strings);
	// values are each.value for for_each.
	keys   []cty.Value
	values []cty.Value
	ids    []string

	// failed is set when count or for_each could not be evaluated, which
	// has been reported: references to its instances are not.
	failed bool
}

// expanded reports whether the block makes instances with keys.
func (tb *taskBlock) expanded() bool { return tb.forEach || tb.count }

// instanceID is the id of the instance of base with the given key:
// base[0] for count, base["key"] for for_each.
func instanceID(base string, key cty.Value) string {
	if key.Type() == cty.Number {
		return base + "[" + key.AsBigFloat().Text('f', -1) + "]"
	}
	return base + "[" + strconv.Quote(key.AsString()) + "]"
}

// validKey matches the for_each keys that can be part of a task id, which
// names a directory of the run: no slash, quote, backslash or control
// character.
var validKey = regexp.MustCompile(`^[^/"\\\x00-\x1f\x7f]+$`)

// readTaskBlocks reads the header attributes of each task block and works
// out its instances, so that references between tasks can be resolved
// before any task is decoded.
func (l *loader) readTaskBlocks(blocks hcl.Blocks) ([]*taskBlock, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []*taskBlock
	for _, block := range blocks {
		tb := &taskBlock{block: block, base: block.Labels[0]}
		if !validTaskID.MatchString(tb.base) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid task id",
				Detail:   "A task id must start with a letter or underscore and contain only letters, digits, underscores, and dashes.",
				Subject:  block.LabelRanges[0].Ptr(),
			})
		} else if len(tb.base) > MaxTaskIDBytes {
			diags = append(diags, taskIDTooLong(tb.base, block.LabelRanges[0]))
		}
		content, moreDiags := block.Body.Content(taskSchema)
		diags = append(diags, moreDiags...)
		tb.content = content
		if prev := l.bases[tb.base]; prev != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate task id",
				Detail:   fmt.Sprintf("A task with id %q was already declared at %s.", tb.base, prev.block.DefRange),
				Subject:  block.LabelRanges[0].Ptr(),
			})
			continue
		}
		l.bases[tb.base] = tb
		l.baseNames = append(l.baseNames, tb.base)
		moreDiags = l.expandBlock(tb)
		diags = append(diags, moreDiags...)
		if l.tasks += len(tb.ids); l.tasks > l.meter.maxTasks {
			l.tasks -= len(tb.ids)
			diags = append(diags, tooManyTasks(len(tb.ids), l.tasks, l.meter.maxTasks, block.DefRange))
			tb.keys, tb.values, tb.ids = nil, nil, nil
			moreDiags = append(moreDiags, diags[len(diags)-1])
		}
		tb.failed = tb.expanded() && len(tb.ids) == 0 && (moreDiags.HasErrors() || !l.varsOK)
		out = append(out, tb)
	}
	return out, diags
}

// expandBlock evaluates count or for_each of tb.
func (l *loader) expandBlock(tb *taskBlock) hcl.Diagnostics {
	countAttr, hasCount := tb.content.Attributes["count"]
	forEachAttr, hasForEach := tb.content.Attributes["for_each"]
	switch {
	case hasCount && hasForEach:
		tb.ids = []string{tb.base}
		tb.keys = []cty.Value{cty.NilVal}
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid combination of count and for_each",
			Detail:   "A task block may have count or for_each, not both.",
			Subject:  forEachAttr.NameRange.Ptr(),
		}}
	case hasCount:
		tb.count = true
		val, ok, diags := l.evalValue(countAttr, cty.Number)
		if !ok {
			return diags
		}
		var n int
		if err := gocty.FromCtyValue(val, &n); err != nil || n < 0 {
			return append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid count",
				Detail:   fmt.Sprintf("The count argument must be a whole number, 0 or more, not %s.", val.AsBigFloat().Text('f', -1)),
				Subject:  countAttr.Expr.Range().Ptr(),
			})
		}
		if n > l.meter.maxTasks-l.tasks {
			return append(diags, tooManyTasks(n, l.tasks, l.meter.maxTasks, countAttr.Expr.Range()))
		}
		for i := range n {
			k := cty.NumberIntVal(int64(i))
			tb.keys = append(tb.keys, k)
			tb.ids = append(tb.ids, instanceID(tb.base, k))
		}
		return diags
	case hasForEach:
		tb.forEach = true
		return l.expandForEach(tb, forEachAttr)
	}
	tb.ids = []string{tb.base}
	tb.keys = []cty.Value{cty.NilVal}
	return nil
}

func (l *loader) expandForEach(tb *taskBlock, attr *hcl.Attribute) hcl.Diagnostics {
	rng := attr.Expr.Range()
	val, diags := l.meter.value(attr.Expr, l.ctx)
	if diags.HasErrors() {
		return diags
	}
	if !val.IsWhollyKnown() {
		if l.varsOK {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid for_each argument",
				Detail:   "The for_each value must be known when the jobfile is loaded: it cannot use task outputs.",
				Subject:  rng.Ptr(),
			})
		}
		return diags
	}
	if val.IsMarked() {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid for_each argument",
			Detail:   "The for_each value comes from a sensitive variable; its keys would name tasks in the output and in results.json.",
			Subject:  rng.Ptr(),
		})
	}
	ty := val.Type()
	if val.IsNull() {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid for_each argument",
			Detail:   "The for_each value must not be null.",
			Subject:  rng.Ptr(),
		})
	}
	switch {
	case ty.IsMapType() || ty.IsObjectType():
		for it := val.ElementIterator(); it.Next(); {
			k, v := it.Element()
			tb.keys = append(tb.keys, k)
			tb.values = append(tb.values, v)
		}
	case ty.IsSetType():
		if !ty.ElementType().Equals(cty.String) {
			if _, err := convert.Convert(val, cty.Set(cty.String)); err != nil {
				return append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid for_each argument",
					Detail:   fmt.Sprintf("The for_each set must hold strings, not %s.", ty.ElementType().FriendlyName()),
					Subject:  rng.Ptr(),
				})
			}
			val, _ = convert.Convert(val, cty.Set(cty.String))
		}
		for it := val.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid for_each argument",
					Detail:   "The for_each set must not hold null.",
					Subject:  rng.Ptr(),
				})
			}
			tb.keys = append(tb.keys, v)
			tb.values = append(tb.values, v)
		}
	default:
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid for_each argument",
			Detail:   fmt.Sprintf("The for_each value must be a map, an object, or a set of strings, not %s; use toset() for a list.", ty.FriendlyName()),
			Subject:  rng.Ptr(),
		})
	}
	for _, k := range tb.keys {
		if !validKey.MatchString(k.AsString()) {
			tb.keys, tb.values, tb.ids = nil, nil, nil
			return append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid for_each key",
				Detail:   fmt.Sprintf("The key %q cannot be part of a task id: a key must not be empty nor hold '/', '\"', '\\' or control characters.", k.AsString()),
				Subject:  rng.Ptr(),
			})
		}
		id := instanceID(tb.base, k)
		if len(id) > MaxTaskIDBytes {
			tb.keys, tb.values, tb.ids = nil, nil, nil
			return append(diags, taskIDTooLong(id, rng))
		}
		tb.ids = append(tb.ids, id)
	}
	return diags
}

// taskIDTooLong is the diagnostic of a task id longer than MaxTaskIDBytes.
func taskIDTooLong(id string, rng hcl.Range) *hcl.Diagnostic {
	return limitDiag("Task id too long", fmt.Sprintf("The task id %.40q… is %d bytes; a task id (with its for_each key) may have at most %d, as it names the task's directory in the run directory", id, len(id), MaxTaskIDBytes), rng.Ptr())
}

// taskObject is what task.ID evaluates to: an object with the task's id
// and its outputs (an object of its values, or unknown while loading),
// and for an expanded task a tuple (count) or object (for_each) of them.
func taskObject(tb *taskBlock, output func(id string) cty.Value) cty.Value {
	inst := func(i int) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{
			"id":     cty.StringVal(tb.ids[i]),
			"output": output(tb.ids[i]),
		})
	}
	switch {
	case tb.count:
		if len(tb.ids) == 0 {
			return cty.EmptyTupleVal
		}
		elems := make([]cty.Value, len(tb.ids))
		for i := range tb.ids {
			elems[i] = inst(i)
		}
		return cty.TupleVal(elems)
	case tb.forEach:
		if len(tb.ids) == 0 {
			return cty.EmptyObjectVal
		}
		attrs := make(map[string]cty.Value, len(tb.ids))
		for i, k := range tb.keys {
			attrs[k.AsString()] = inst(i)
		}
		return cty.ObjectVal(attrs)
	}
	return inst(0)
}

// instanceContext is the context of one instance of tb: count.index or
// each.key and each.value.
func instanceContext(parent *hcl.EvalContext, tb *taskBlock, i int) *hcl.EvalContext {
	if !tb.expanded() {
		return parent
	}
	ctx := parent.NewChild()
	if tb.count {
		ctx.Variables = map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": tb.keys[i]})}
	} else {
		ctx.Variables = map[string]cty.Value{"each": cty.ObjectVal(map[string]cty.Value{"key": tb.keys[i], "value": tb.values[i]})}
	}
	return ctx
}

// OutputRef is a reference to a task's output in another task's args.
type OutputRef struct {
	// Tasks are the ids of the tasks it may read: one, or every instance
	// of an expanded task when the key is not a constant.
	Tasks []string

	// Name is the output's name, or "" when it is not a constant.
	Name string

	// Range is the range of the reference.
	Range hcl.Range
}

// taskRefs reads the task.ID... references of expr: each referenced task
// instance is returned as a dependency, and each output reference in refs.
func (l *loader) taskRefs(expr hcl.Expression) (deps []string, refs []OutputRef, diags hcl.Diagnostics) {
	info := l.exprInfo(expr)
	if !info.usesTask {
		return nil, nil, nil
	}
	if deps, refs, ok := info.cachedRefs(); ok {
		return deps, refs, nil
	}
	// task.X[KEY].output.NAME with KEY an expression (each.key): the key
	// is known here, so the instance is too.
	var indexed map[hcl.Range]indexedRef
	if info.indexed {
		indexed = l.indexedTaskRefs(expr)
	}
	failedBefore := l.refFailed
	l.refFailed = false
	defer func() {
		// Without an indexed reference, the result is the same for every
		// instance: kept, unless it has problems to report (each
		// instance reports them, as it always has).
		if !info.indexed && len(diags) == 0 && !l.refFailed {
			info.keepRefs(deps, refs)
		}
		l.refFailed = l.refFailed || failedBefore
	}()
	for _, tr := range info.vars {
		if tr.RootName() != "task" {
			continue
		}
		rng := tr.SourceRange()
		if ix, ok := indexed[rng]; ok {
			tr = ix.traversal
			rng = ix.rng
		}
		ids, rest, moreDiags := l.resolveTaskTraversal(tr, "Reference to unknown task")
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		deps = append(deps, ids...)
		ref := OutputRef{Tasks: ids, Range: rng}
		if len(rest) > 0 {
			a, ok := rest[0].(hcl.TraverseAttr)
			switch {
			case ok && a.Name == "id":
				continue
			case ok && a.Name == "output":
				if len(rest) > 1 {
					if n, ok := rest[1].(hcl.TraverseAttr); ok {
						ref.Name = n.Name
					} else if n, ok := rest[1].(hcl.TraverseIndex); ok && n.Key.Type() == cty.String {
						ref.Name = n.Key.AsString()
					}
				}
			default:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid task reference",
					Detail:   "A task's outputs are read as task.ID.output.NAME; a task also has its id, task.ID.id.",
					Subject:  rng.Ptr(),
				})
				continue
			}
		}
		refs = append(refs, ref)
	}
	return deps, refs, diags
}

// resolveTaskTraversal returns the task ids that a traversal task.BASE or
// task.BASE[KEY] names, and what follows. unknown is the summary for a
// task that is not declared.
func (l *loader) resolveTaskTraversal(tr hcl.Traversal, unknown string) ([]string, hcl.Traversal, hcl.Diagnostics) {
	rng := tr.SourceRange()
	if len(tr) < 2 {
		return nil, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid task reference",
			Detail:   "A task reference names a task: task.ID.",
			Subject:  rng.Ptr(),
		}}
	}
	a, ok := tr[1].(hcl.TraverseAttr)
	if !ok {
		return nil, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid task reference",
			Detail:   "A task reference names a task: task.ID.",
			Subject:  rng.Ptr(),
		}}
	}
	tb := l.bases[a.Name]
	if tb == nil {
		return nil, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  unknown,
			Detail:   fmt.Sprintf("No task with id %q is declared.%s", a.Name, l.didYouMean(a.Name, l.baseNames)),
			Subject:  rng.Ptr(),
		}}
	}
	rest := tr[2:]
	if !tb.expanded() {
		return tb.ids, rest, nil
	}
	if tb.failed {
		l.refFailed = true
		return nil, nil, nil
	}
	if len(rest) > 0 {
		if ix, ok := rest[0].(hcl.TraverseIndex); ok {
			id, ok := keyID(tb, ix.Key)
			if !ok && len(tb.ids) == 0 {
				return nil, nil, hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Reference to unknown task instance",
					Detail:   fmt.Sprintf("Task %q has no instance with the key %s: it has no instances.", tb.base, ctyString(ix.Key)),
					Subject:  rng.Ptr(),
				}}
			}
			if !ok {
				return nil, nil, hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  "Reference to unknown task instance",
					Detail:   fmt.Sprintf("Task %q has no instance with the key %s. Its instances are %s.", tb.base, ctyString(ix.Key), quotedList(tb.ids)),
					Subject:  rng.Ptr(),
				}}
			}
			return []string{id}, rest[1:], nil
		}
		if a, ok := rest[0].(hcl.TraverseAttr); ok && tb.forEach {
			if id, ok := keyID(tb, cty.StringVal(a.Name)); ok {
				return []string{id}, rest[1:], nil
			}
		}
	}
	return tb.ids, rest, nil
}

// keyID returns the id of tb's instance with the given key.
func keyID(tb *taskBlock, key cty.Value) (string, bool) {
	if key.IsNull() || !key.IsKnown() {
		return "", false
	}
	var want cty.Type = cty.String
	if tb.count {
		want = cty.Number
	}
	k, err := convert.Convert(key, want)
	if err != nil {
		return "", false
	}
	for i, have := range tb.keys {
		if tb.count && have.AsBigFloat().Cmp(k.AsBigFloat()) == 0 {
			return tb.ids[i], true
		}
		if !tb.count && have.AsString() == k.AsString() {
			return tb.ids[i], true
		}
	}
	return "", false
}

func ctyString(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.String:
		return fmt.Sprintf("%q", v.AsString())
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1)
	}
	return v.Type().FriendlyName()
}

// dependencyIDs returns the task ids one element of depends_on names: a
// reference task.ID (every instance of an expanded task) or
// task.ID[KEY], a string id, or any expression giving task objects.
// Names it cannot resolve are returned as they are, for checkDependencies
// to report.
func (l *loader) dependencyIDs(expr hcl.Expression) ([]string, hcl.Diagnostics) {
	if tr, diags := hcl.AbsTraversalForExpr(expr); !diags.HasErrors() {
		if tr.RootName() != "task" {
			return nil, invalidDependency(expr)
		}
		ids, rest, diags := l.resolveTaskTraversal(tr, "Unknown dependency")
		if diags.HasErrors() {
			if len(tr) >= 2 {
				if a, ok := tr[1].(hcl.TraverseAttr); ok && l.bases[a.Name] == nil {
					// Reported by checkDependencies, with the task's name.
					return []string{a.Name}, nil
				}
			}
			return nil, diags
		}
		if len(rest) == 1 && isAttr(rest[0], "id") {
			rest = nil
		}
		if len(rest) > 0 {
			return nil, invalidDependency(expr)
		}
		return ids, nil
	}
	val, diags := l.meter.value(expr, l.ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	if !val.IsKnown() {
		if l.varsOK {
			return nil, invalidDependency(expr)
		}
		return nil, nil
	}
	val, _ = val.UnmarkDeep()
	ids, ok := l.idsOf(val)
	if !ok {
		return nil, invalidDependency(expr)
	}
	return ids, nil
}

// idsOf returns the task ids val names: a string is an id or the name of
// an expanded task; an object with an id attribute is a task; a
// collection holds either.
func (l *loader) idsOf(val cty.Value) ([]string, bool) {
	if val.IsNull() {
		return nil, false
	}
	ty := val.Type()
	switch {
	case ty == cty.String:
		s := val.AsString()
		if tb := l.bases[s]; tb != nil {
			return tb.ids, true
		}
		return []string{s}, true
	case !val.IsKnown():
		return nil, false
	case ty.IsObjectType() && ty.HasAttribute("id") && ty.HasAttribute("output"):
		id := val.GetAttr("id")
		if id.Type() != cty.String || id.IsNull() || !id.IsKnown() {
			return nil, false
		}
		return []string{id.AsString()}, true
	case ty.IsObjectType() || ty.IsMapType() || ty.IsTupleType() || ty.IsListType() || ty.IsSetType():
		var out []string
		for it := val.ElementIterator(); it.Next(); {
			_, v := it.Element()
			ids, ok := l.idsOf(v)
			if !ok {
				return nil, false
			}
			out = append(out, ids...)
		}
		return out, true
	}
	return nil, false
}

func invalidDependency(expr hcl.Expression) hcl.Diagnostics {
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid dependency",
		Detail:   `A dependency must be a task reference like task.setup or task.ping["r1"], or a task id string like "setup".`,
		Subject:  expr.Range().Ptr(),
	}}
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// indexedRef is a reference task.X[KEY]... whose KEY is an expression,
// rewritten as the traversal it amounts to once KEY is evaluated.
type indexedRef struct {
	traversal hcl.Traversal
	rng       hcl.Range
}

// indexedTaskRefs finds the references task.X[KEY]... in expr whose KEY is
// not a constant but can be evaluated now (each.key, count.index, a
// variable), by the range of their task.X part.
func (l *loader) indexedTaskRefs(expr hcl.Expression) map[hcl.Range]indexedRef {
	se, ok := expr.(hclsyntax.Expression)
	if !ok {
		return nil
	}
	var out map[hcl.Range]indexedRef
	add := func(ix *hclsyntax.IndexExpr, after hcl.Traversal, rng hcl.Range) {
		st, ok := ix.Collection.(*hclsyntax.ScopeTraversalExpr)
		if !ok || st.Traversal.RootName() != "task" || len(st.Traversal) != 2 {
			return
		}
		key, diags := l.meter.value(ix.Key, l.ctx)
		if diags.HasErrors() || !key.IsWhollyKnown() || key.IsNull() {
			return
		}
		key, _ = key.Unmark()
		tr := append(append(append(hcl.Traversal{}, st.Traversal...), hcl.TraverseIndex{Key: key, SrcRange: ix.Key.Range()}), after...)
		if out == nil {
			out = map[hcl.Range]indexedRef{}
		}
		out[st.Traversal.SourceRange()] = indexedRef{traversal: tr, rng: rng}
	}
	_ = hclsyntax.VisitAll(se, func(n hclsyntax.Node) hcl.Diagnostics {
		switch e := n.(type) {
		case *hclsyntax.RelativeTraversalExpr:
			if ix, ok := e.Source.(*hclsyntax.IndexExpr); ok {
				add(ix, e.Traversal, e.Range())
			}
		case *hclsyntax.IndexExpr:
			if st, ok := e.Collection.(*hclsyntax.ScopeTraversalExpr); ok {
				if _, done := out[st.Traversal.SourceRange()]; !done {
					add(e, nil, e.Range())
				}
			}
		}
		return nil
	})
	return out
}
