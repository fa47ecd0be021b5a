package jobfile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// decodeLocals evaluates the attributes of the locals blocks, each after
// the locals it refers to. A local that fails is cty.DynamicVal, so that
// what uses it is not reported again.
func (l *loader) decodeLocals(blocks hcl.Blocks, vars map[string]cty.Value) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	attrs := map[string]*hcl.Attribute{}
	var names []string
	for _, b := range blocks {
		as, moreDiags := b.Body.JustAttributes()
		diags = append(diags, moreDiags...)
		for name, a := range as {
			if prev := attrs[name]; prev != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate local value",
					Detail:   fmt.Sprintf("local.%s was already defined at %s.", name, prev.NameRange),
					Subject:  a.NameRange.Ptr(),
				})
				continue
			}
			attrs[name] = a
			names = append(names, name)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := attrs[names[i]].Range, attrs[names[j]].Range
		if a.Filename != b.Filename {
			return a.Filename < b.Filename
		}
		return a.Start.Byte < b.Start.Byte
	})

	// needs[name] are the locals that name refers to.
	needs := map[string][]string{}
	for _, name := range names {
		for _, tr := range attrs[name].Expr.Variables() {
			switch tr.RootName() {
			case "local":
				if len(tr) < 2 {
					continue
				}
				ref, ok := tr[1].(hcl.TraverseAttr)
				if ix, isIndex := tr[1].(hcl.TraverseIndex); isIndex && ix.Key.IsKnown() && !ix.Key.IsNull() && ix.Key.Type() == cty.String {
					ref, ok = hcl.TraverseAttr{Name: ix.Key.AsString(), SrcRange: ix.SrcRange}, true
				}
				if !ok {
					continue
				}
				if attrs[ref.Name] == nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Reference to undeclared local value",
						Detail:   fmt.Sprintf("No local value named %q is defined.%s", ref.Name, l.didYouMean(ref.Name, names)),
						Subject:  tr.SourceRange().Ptr(),
					})
					continue
				}
				needs[name] = append(needs[name], ref.Name)
			case "task", "each", "count":
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid reference in a local value",
					Detail:   fmt.Sprintf("A local value may use variables, other locals and functions, not %s.", tr.RootName()),
					Subject:  tr.SourceRange().Ptr(),
				})
			}
		}
	}

	// Each local is evaluated once, after the locals it refers to (Kahn's
	// order, without recursion), in a context holding only those: time
	// linear in the number of locals and references, however they chain.
	values := make(map[string]cty.Value, len(names))
	waiting := make(map[string]int, len(names)) // locals it waits for
	users := map[string][]string{}              // locals waiting for it
	var ready []string
	for _, name := range names {
		seen := map[string]bool{}
		for _, n := range needs[name] {
			if !seen[n] {
				seen[n] = true
				waiting[name]++
				users[n] = append(users[n], name)
			}
		}
		if waiting[name] == 0 {
			ready = append(ready, name)
		}
	}
	varObj := cty.ObjectVal(vars)
	for len(ready) > 0 {
		name := ready[0]
		ready = ready[1:]
		own := make(map[string]cty.Value, len(needs[name]))
		for _, n := range needs[name] {
			own[n] = values[n]
		}
		ctx := &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": varObj, "local": cty.ObjectVal(own)},
			Functions: l.fns,
		}
		expr := attrs[name].Expr
		l.meter.site = expr.Range()
		val, moreDiags := expr.Value(ctx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			val = cty.DynamicVal
		} else if steps, err := checkValue(val); err != nil {
			diags = append(diags, limitDiag(err.summary, err.detail, expr.Range().Ptr()))
			val = cty.DynamicVal
		} else {
			l.meter.charge(1+steps, expr.Range().Ptr())
		}
		values[name] = val
		for _, u := range users[name] {
			if waiting[u]--; waiting[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(values) < len(names) {
		// What is left waits on a cycle, or on a local that does.
		var cycle []string
		for _, name := range names {
			if _, done := values[name]; !done {
				cycle = append(cycle, "local."+name)
				values[name] = cty.DynamicVal
			}
		}
		shown := cycle
		if len(shown) > 20 {
			shown = append(shown[:20:20], fmt.Sprintf("and %s more", thousands(len(cycle)-20)))
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle in local values",
			Detail:   fmt.Sprintf("These local values refer to each other in a cycle: %s.", strings.Join(shown, ", ")),
			Subject:  attrs[strings.TrimPrefix(cycle[0], "local.")].NameRange.Ptr(),
		})
	}
	return values, diags
}
