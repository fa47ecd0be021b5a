package jobfile

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decodeArgsBlocks fills task.Args from an args block: its attributes are
// arguments, and its nested blocks of one type make a list of objects,
// one argument named after the type. A dynamic "TYPE" block makes one
// TYPE block per element of its for_each, as in Terraform:
//
//	args {
//	  device = "r1"
//	  dynamic "probe" {
//	    for_each = var.targets
//	    content {
//	      host = probe.value
//	    }
//	  }
//	}
//
// gives args = { device = "r1", probe = [{ host = ... }, ...] }.
func (l *loader) decodeArgsBlocks(blocks hcl.Blocks, task *Task) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(blocks) > 1 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate args block",
			Detail:   fmt.Sprintf("A task has at most one args block; the first is at %s.", blocks[0].DefRange),
			Subject:  blocks[1].DefRange.Ptr(),
		})
	}
	body, ok := blocks[0].Body.(*hclsyntax.Body)
	if !ok {
		return diags
	}
	vals, ranges, moreDiags := l.decodeBody(body, l.ctx)
	diags = append(diags, moreDiags...)
	for name, v := range vals {
		task.Args[name] = v
		task.ArgRanges[name] = ranges[name]
	}
	return diags
}

// decodeBody evaluates the attributes and nested blocks of body, without
// a schema. It returns each argument's value and range.
func (l *loader) decodeBody(body *hclsyntax.Body, ctx *hcl.EvalContext) (map[string]cty.Value, map[string]hcl.Range, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	vals := map[string]cty.Value{}
	ranges := map[string]hcl.Range{}
	for name, attr := range body.Attributes {
		for _, tr := range attr.Expr.Variables() {
			if tr.RootName() == "task" {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Task reference in an args block",
					Detail:   "Other tasks' outputs can be used only in the args attribute, like args = { addr = task.setup.output.addr }.",
					Subject:  tr.SourceRange().Ptr(),
				})
			}
		}
		if diags.HasErrors() {
			continue
		}
		l.meter.charge(1, attr.NameRange.Ptr())
		v, moreDiags := l.meter.value(attr.Expr, ctx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		if !v.IsWhollyKnown() {
			if l.varsOK {
				diags = append(diags, notWhollyKnown(name, attr.Expr.Range()))
			}
			continue
		}
		l.noteSensitive(v)
		vals[name], _ = v.UnmarkDeep()
		ranges[name] = attr.Expr.Range()
	}
	lists := map[string][]cty.Value{}
	add := func(typ string, rng hcl.Range, v cty.Value) {
		if _, ok := body.Attributes[typ]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate argument",
				Detail:   fmt.Sprintf("The argument %q is set both as an attribute and as blocks.", typ),
				Subject:  rng.Ptr(),
			})
			return
		}
		if _, ok := ranges[typ]; !ok {
			ranges[typ] = rng
		}
		lists[typ] = append(lists[typ], v)
	}
	for _, b := range body.Blocks {
		if b.Type != "dynamic" {
			if len(b.Labels) > 0 {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unexpected block label",
					Detail:   fmt.Sprintf("A %q block in args takes no label.", b.Type),
					Subject:  b.LabelRanges[0].Ptr(),
				})
				continue
			}
			v, _, moreDiags := l.decodeBody(b.Body, ctx)
			diags = append(diags, moreDiags...)
			add(b.Type, b.DefRange(), cty.ObjectVal(v))
			continue
		}
		diags = append(diags, l.expandDynamic(b, ctx, add)...)
	}
	for typ, list := range lists {
		vals[typ] = cty.TupleVal(list)
	}
	return vals, ranges, diags
}

// expandDynamic expands a dynamic "TYPE" { for_each, iterator, content {}
// } block, calling add for each TYPE block it makes.
func (l *loader) expandDynamic(b *hclsyntax.Block, ctx *hcl.EvalContext, add func(string, hcl.Range, cty.Value)) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(b.Labels) != 1 {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid dynamic block",
			Detail:   `A dynamic block has one label, the type of the blocks it makes: dynamic "probe" { ... }.`,
			Subject:  b.DefRange().Ptr(),
		}}
	}
	typ := b.Labels[0]
	forEach, ok := b.Body.Attributes["for_each"]
	var content *hclsyntax.Block
	for _, c := range b.Body.Blocks {
		if c.Type == "content" && content == nil {
			content = c
		} else {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid dynamic block",
				Detail:   "A dynamic block holds one content block and nothing else but for_each and iterator.",
				Subject:  c.DefRange().Ptr(),
			})
		}
	}
	for name, a := range b.Body.Attributes {
		if name != "for_each" && name != "iterator" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   fmt.Sprintf("A dynamic block takes for_each, iterator and a content block, not %q.", name),
				Subject:  a.NameRange.Ptr(),
			})
		}
	}
	if !ok || content == nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid dynamic block",
			Detail:   "A dynamic block needs a for_each argument and a content block.",
			Subject:  b.DefRange().Ptr(),
		})
	}
	if diags.HasErrors() {
		return diags
	}
	iter := typ
	if a, ok := b.Body.Attributes["iterator"]; ok {
		tr, moreDiags := hcl.AbsTraversalForExpr(a.Expr)
		if moreDiags.HasErrors() || len(tr) != 1 {
			return append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid dynamic iterator",
				Detail:   "The iterator is a single name, like iterator = t.",
				Subject:  a.Expr.Range().Ptr(),
			})
		}
		iter = tr.RootName()
	}
	coll, moreDiags := l.meter.value(forEach.Expr, ctx)
	diags = append(diags, moreDiags...)
	if moreDiags.HasErrors() {
		return diags
	}
	if !coll.IsWhollyKnown() {
		if l.varsOK {
			diags = append(diags, notWhollyKnown("for_each", forEach.Expr.Range()))
		}
		return diags
	}
	if coll.IsNull() || !coll.CanIterateElements() {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid dynamic for_each value",
			Detail:   fmt.Sprintf("The for_each of a dynamic block must be a collection, not %s.", coll.Type().FriendlyName()),
			Subject:  forEach.Expr.Range().Ptr(),
		})
	}
	total := 0 // the elements of the blocks made so far
	for it := coll.ElementIterator(); it.Next(); {
		l.meter.charge(1, forEach.Expr.Range().Ptr())
		k, v := it.Element()
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{iter: cty.ObjectVal(map[string]cty.Value{"key": k, "value": v})}
		vals, _, moreDiags := l.decodeBody(content.Body, child)
		diags = append(diags, moreDiags...)
		block := cty.ObjectVal(vals)
		steps, err := checkValue(block)
		if total += steps; err == nil && total > MaxValueElements {
			err = &limitError{"Value too large", fmt.Sprintf("The %q blocks made here hold more than %s elements; a value may hold at most %s", typ, thousands(MaxValueElements), thousands(MaxValueElements))}
		}
		if err != nil {
			return append(diags, limitDiag(err.summary, err.detail, b.DefRange().Ptr()))
		}
		l.meter.charge(steps, forEach.Expr.Range().Ptr())
		add(typ, b.DefRange(), block)
	}
	return diags
}
