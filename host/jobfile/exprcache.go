package jobfile

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// exprInfo is what the loader reads from the shape of one expression of
// the jobfile: found once, however many task instances (count, for_each)
// evaluate the expression.
type exprInfo struct {
	// vars are the expression's traversals (Variables), and usesTask is
	// set when one of them starts at task.
	vars     []hcl.Traversal
	usesTask bool

	// indexed is set when the expression holds task.X[KEY] with KEY not a
	// constant: which instance it reads depends on the instance
	// evaluating it.
	indexed bool

	// refsDone is set once deps and refs hold the result of taskRefs,
	// which is the same for every instance when the expression has no
	// indexed reference and it found no problem.
	refsDone bool
	deps     []string
	refs     []OutputRef

	// pairs and pairsDiags are hcl.ExprMap of the expression, once
	// asked for.
	pairsDone  bool
	pairs      []hcl.KeyValuePair
	pairsDiags hcl.Diagnostics

	// val is the value of a plain task reference, with the steps it
	// counts, once valDone (loadValue).
	valDone bool
	val     cty.Value
	steps   int
}

// loadValue is meter.value(expr, l.ctx) for an argument while the
// jobfile loads. A plain reference to a task, task.X.output.NAME or
// task.X["k"].id, reads only the task objects, which are the same for
// every instance during the load (their outputs are unknown): it is
// evaluated once, and counted each time.
func (l *loader) loadValue(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	st, ok := expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok || st.Traversal.RootName() != "task" {
		return l.meter.value(expr, l.ctx)
	}
	info := l.exprInfo(expr)
	if info.valDone {
		rng := expr.Range()
		l.meter.site = rng
		l.meter.chargeAt(info.steps, rng)
		return info.val, nil
	}
	val, diags := l.meter.value(expr, l.ctx)
	if len(diags) == 0 {
		steps, _ := checkValue(val)
		info.val, info.steps, info.valDone = val, steps, true
	}
	return val, diags
}

// taskNamesUsed returns the task names that the expressions under body
// read through task.NAME, or all when one reads the task object as a
// whole (task, task[KEY]).
func taskNamesUsed(body *hclsyntax.Body) (names map[string]bool, all bool) {
	names = map[string]bool{}
	_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
		st, ok := n.(*hclsyntax.ScopeTraversalExpr)
		if !ok || st.Traversal.RootName() != "task" {
			return nil
		}
		if len(st.Traversal) < 2 {
			all = true
			return nil
		}
		if a, ok := st.Traversal[1].(hcl.TraverseAttr); ok {
			names[a.Name] = true
		} else {
			all = true
		}
		return nil
	})
	return names, all
}

// exprMap is hcl.ExprMap(expr), found once for all the instances.
func (l *loader) exprMap(expr hcl.Expression) ([]hcl.KeyValuePair, hcl.Diagnostics) {
	info := l.exprInfo(expr)
	if !info.pairsDone {
		info.pairs, info.pairsDiags = hcl.ExprMap(expr)
		info.pairsDone = true
	}
	return info.pairs, slices.Clip(info.pairsDiags)
}

// exprInfo returns the information on expr, found on the first call.
func (l *loader) exprInfo(expr hcl.Expression) *exprInfo {
	se, ok := expr.(hclsyntax.Expression)
	if !ok {
		// Not from the jobfile's native syntax: found each time.
		return newExprInfo(expr)
	}
	if info := l.exprs[se]; info != nil {
		return info
	}
	info := newExprInfo(expr)
	if l.exprs == nil {
		l.exprs = map[hclsyntax.Expression]*exprInfo{}
	}
	l.exprs[se] = info
	return info
}

func newExprInfo(expr hcl.Expression) *exprInfo {
	info := &exprInfo{vars: expr.Variables()}
	for _, tr := range info.vars {
		if tr.RootName() == "task" {
			info.usesTask = true
		}
	}
	se, ok := expr.(hclsyntax.Expression)
	if !info.usesTask || !ok {
		return info
	}
	_ = hclsyntax.VisitAll(se, func(n hclsyntax.Node) hcl.Diagnostics {
		var coll hclsyntax.Expression
		switch e := n.(type) {
		case *hclsyntax.IndexExpr:
			coll = e.Collection
		case *hclsyntax.RelativeTraversalExpr:
			if ix, ok := e.Source.(*hclsyntax.IndexExpr); ok {
				coll = ix.Collection
			}
		}
		if st, ok := coll.(*hclsyntax.ScopeTraversalExpr); ok && st.Traversal.RootName() == "task" && len(st.Traversal) == 2 {
			info.indexed = true
		}
		return nil
	})
	return info
}

// constValue is the value of an expression that has no variables, no
// function calls and no operators: the same every time it is evaluated,
// in any context.
type constValue struct {
	val   cty.Value
	steps int
}

// isConstant reports whether expr is made of literals, templates of
// literals, and tuples and objects of them, with object keys written as
// names or literals: its value is the same in any context, and
// evaluating it calls no hook of the meter.
func isConstant(expr hclsyntax.Expression) bool {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return true
	case *hclsyntax.TemplateExpr:
		for _, p := range e.Parts {
			if !isConstant(p) {
				return false
			}
		}
		return true
	case *hclsyntax.TemplateWrapExpr:
		return isConstant(e.Wrapped)
	case *hclsyntax.TupleConsExpr:
		for _, x := range e.Exprs {
			if !isConstant(x) {
				return false
			}
		}
		return true
	case *hclsyntax.ObjectConsExpr:
		for _, item := range e.Items {
			if !isConstant(item.KeyExpr) || !isConstant(item.ValueExpr) {
				return false
			}
		}
		return true
	case *hclsyntax.ObjectConsKeyExpr:
		if !e.ForceNonLiteral && hcl.ExprAsKeyword(e.Wrapped) != "" {
			return true
		}
		return isConstant(e.Wrapped)
	}
	return false
}

// cachedRefs returns the result of taskRefs found for an earlier
// instance, if it holds for every instance.
func (info *exprInfo) cachedRefs() ([]string, []OutputRef, bool) {
	return info.deps, info.refs, info.refsDone
}

// keepRefs keeps the result of taskRefs for the next instances.
func (info *exprInfo) keepRefs(deps []string, refs []OutputRef) {
	info.refsDone, info.deps, info.refs = true, slices.Clip(deps), slices.Clip(refs)
}
