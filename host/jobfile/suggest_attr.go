package jobfile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// suggestAttributes adds a did-you-mean to each "Unsupported attribute"
// of a reference (var.devcies, local.adresses, each.value.hots): the
// closest attribute of the object the reference reached, as Terraform
// does. A reference to an undeclared variable says so, in Terraform's
// words.
func suggestAttributes(diags hcl.Diagnostics) {
	for _, d := range diags {
		if d.Summary != "Unsupported attribute" || d.Subject == nil || d.EvalContext == nil ||
			strings.Contains(d.Detail, "Did you mean") {
			continue
		}
		expr, ok := d.Expression.(*hclsyntax.ScopeTraversalExpr)
		if !ok {
			continue
		}
		tr := expr.Traversal
		for k := 1; k < len(tr); k++ {
			attr, ok := tr[k].(hcl.TraverseAttr)
			if !ok || attr.SrcRange != *d.Subject {
				continue
			}
			obj, diags := tr[:k].TraverseAbs(d.EvalContext)
			if diags.HasErrors() || !obj.Type().IsObjectType() {
				break
			}
			var names []string
			for name := range obj.Type().AttributeTypes() {
				names = append(names, name)
			}
			slices.Sort(names)
			suggestion := didYouMean(attr.Name, names)
			if k == 1 && tr.RootName() == "var" {
				d.Summary = "Reference to undeclared input variable"
				d.Detail = fmt.Sprintf("An input variable with the name %q has not been declared.", attr.Name)
				if suggestion == "" {
					suggestion = fmt.Sprintf(" This variable can be declared with a variable %q {} block.", attr.Name)
				}
			}
			d.Detail += suggestion
			break
		}
	}
}
