package jobfile

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// instrument puts the meter's hooks into the expressions under node, once,
// right after parsing, and checks their literal values. HCL makes values
// in places no function sees (a for expression's elements, a template's
// parts, a splat's items, a conditional's results) and converts strings
// to numbers before an operator or a function gets them: a hook is a call
// wrapped around such a subexpression, hook(expr, site), that checks the
// value, counts its work and returns it unchanged. Operators are wrapped
// as functions are (wrapOperation).
//
// Only subexpressions are wrapped, never the expression of an attribute
// itself nor an element of a tuple or object written out: what the loader
// reads from the shape of an expression (depends_on lists, args objects,
// type constraints, traversals) is unchanged. fns are the functions the
// expressions are evaluated with, which tell which arguments are numbers.
func (m *meter) instrument(node hclsyntax.Node, fns map[string]function.Function) hcl.Diagnostics {
	var diags hcl.Diagnostics
	wrap := func(hook string, e hclsyntax.Expression) hclsyntax.Expression {
		if e == nil {
			return nil
		}
		if _, ok := e.(*hclsyntax.LiteralValueExpr); ok && hook != hookNumber && hook != hookKey {
			return e // checked where it is, below
		}
		rng := e.Range()
		m.sites = append(m.sites, rng)
		return &hclsyntax.FunctionCallExpr{
			Name: hook,
			Args: []hclsyntax.Expression{e, &hclsyntax.LiteralValueExpr{
				Val:      cty.NumberIntVal(int64(len(m.sites) - 1)),
				SrcRange: rng,
			}},
			NameRange:       rng,
			OpenParenRange:  rng,
			CloseParenRange: rng,
		}
	}
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		switch e := n.(type) {
		case *hclsyntax.ForExpr:
			// The collection's steps pay for the iterations, whatever
			// the body is.
			e.CollExpr = wrap(hookValue, e.CollExpr)
			e.KeyExpr = wrap(hookValue, e.KeyExpr)
			e.ValExpr = wrap(hookValue, e.ValExpr)
			e.CondExpr = wrap(hookValue, e.CondExpr)
		case *hclsyntax.SplatExpr:
			e.Each = wrap(hookValue, e.Each)
		case *hclsyntax.TemplateExpr:
			for i, p := range e.Parts {
				e.Parts[i] = wrap(hookPart, p)
			}
		case *hclsyntax.ConditionalExpr:
			e.TrueResult = wrap(hookValue, e.TrueResult)
			e.FalseResult = wrap(hookValue, e.FalseResult)
		case *hclsyntax.BinaryOpExpr:
			params := e.Op.Impl.Params()
			if params[0].Type == cty.Number {
				e.LHS = wrap(hookNumber, e.LHS)
			}
			if params[1].Type == cty.Number {
				e.RHS = wrap(hookNumber, e.RHS)
			}
			e.Op = m.wrapOperation(e.Op, e.SrcRange)
		case *hclsyntax.UnaryOpExpr:
			if e.Op.Impl.Params()[0].Type == cty.Number {
				e.Val = wrap(hookNumber, e.Val)
			}
			e.Op = m.wrapOperation(e.Op, e.SrcRange)
		case *hclsyntax.IndexExpr:
			e.Key = wrap(hookKey, e.Key)
		case *hclsyntax.FunctionCallExpr:
			f, ok := fns[e.Name]
			if !ok || isHook(e.Name) {
				break
			}
			params := f.Params()
			for i, a := range e.Args {
				var p *function.Parameter
				if i < len(params) {
					p = &params[i]
				} else {
					p = f.VarParam()
				}
				if p != nil && p.Type == cty.Number {
					e.Args[i] = wrap(hookNumber, a)
				}
			}
		case *hclsyntax.LiteralValueExpr:
			if _, err := checkValue(e.Val); err != nil {
				diags = append(diags, limitDiag(err.summary, err.detail, e.SrcRange.Ptr()))
			}
		case *hclsyntax.ScopeTraversalExpr:
			diags = append(diags, checkTraversal(e.Traversal)...)
		case *hclsyntax.RelativeTraversalExpr:
			diags = append(diags, checkTraversal(e.Traversal)...)
		}
		return nil
	})
	return diags
}

// checkTraversal checks the literal keys of a traversal, x["k"] or x[0]:
// a number in range, a string key not too long to read as a number.
func checkTraversal(tr hcl.Traversal) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, t := range tr {
		ix, ok := t.(hcl.TraverseIndex)
		if !ok {
			continue
		}
		err := indexKey(ix.Key)
		if err == nil && ix.Key.IsKnown() && !ix.Key.IsNull() && ix.Key.Type() == cty.Number {
			err = checkNumber(ix.Key)
		}
		if err != nil {
			diags = append(diags, limitDiag(err.summary, err.detail, ix.SrcRange.Ptr()))
		}
	}
	return diags
}

func isHook(name string) bool {
	return name == hookValue || name == hookNumber || name == hookKey || name == hookPart
}

// wrapOperation returns op with its function wrapped: it counts the work
// of its operands (comparing two large values walks both) and checks its
// result (a product of two large numbers is out of range).
func (m *meter) wrapOperation(op *hclsyntax.Operation, rng hcl.Range) *hclsyntax.Operation {
	wrapped := *op
	inner := op.Impl
	wrapped.Impl = function.New(&function.Spec{
		Description: inner.Description(),
		Params:      inner.Params(),
		VarParam:    inner.VarParam(),
		Type:        func(args []cty.Value) (cty.Type, error) { return inner.ReturnTypeForValues(args) },
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			steps := 1
			for _, a := range args {
				s, err := checkValue(a)
				steps += s
				if err != nil {
					m.charge(steps, &rng)
					return cty.NilVal, m.refused(err, &rng)
				}
			}
			m.charge(steps, &rng)
			v, err := inner.Call(args)
			if err != nil {
				return v, err
			}
			s, lerr := checkValue(v)
			m.charge(s, &rng)
			if lerr != nil {
				return cty.NilVal, m.refused(lerr, &rng)
			}
			return v, nil
		},
	})
	return &wrapped
}
