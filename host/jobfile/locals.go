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
				if !ok {
					continue
				}
				if attrs[ref.Name] == nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError,
						Summary:  "Reference to undeclared local value",
						Detail:   fmt.Sprintf("No local value named %q is defined.%s", ref.Name, didYouMean(ref.Name, names)),
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

	values := map[string]cty.Value{}
	done := map[string]bool{}
	for len(done) < len(names) {
		progress := false
		for _, name := range names {
			if done[name] {
				continue
			}
			ready := true
			for _, n := range needs[name] {
				if !done[n] && attrs[n] != nil {
					ready = false
				}
			}
			if !ready {
				continue
			}
			ctx := evalContext(vars, values, l.dir)
			val, moreDiags := attrs[name].Expr.Value(ctx)
			diags = append(diags, moreDiags...)
			if moreDiags.HasErrors() {
				val = cty.DynamicVal
			}
			values[name], done[name], progress = val, true, true
		}
		if progress {
			continue
		}
		var cycle []string
		for _, name := range names {
			if !done[name] {
				cycle = append(cycle, "local."+name)
				values[name], done[name] = cty.DynamicVal, true
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cycle in local values",
			Detail:   fmt.Sprintf("These local values refer to each other in a cycle: %s.", strings.Join(cycle, ", ")),
			Subject:  attrs[strings.TrimPrefix(cycle[0], "local.")].NameRange.Ptr(),
		})
	}
	return values, diags
}
