package jobfile

import (
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
	},
}

// variable is a decoded variable block.
type variable struct {
	Name string
	Type cty.Type

	// Default is the default value, if HasDefault. A variable without a
	// default is required.
	Default    cty.Value
	HasDefault bool

	DeclRange hcl.Range
}

// decodeVariables decodes the variable blocks and resolves each variable
// from vars or from its default. A variable that fails to resolve is
// cty.DynamicVal in the result, so that expressions using it evaluate to
// unknown values instead of repeating the error.
func decodeVariables(blocks hcl.Blocks, vars map[string]string) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	values := make(map[string]cty.Value)
	declared := make(map[string]*variable)

	for _, block := range blocks {
		v, moreDiags := decodeVariable(block)
		diags = append(diags, moreDiags...)
		if prev, exists := declared[v.Name]; exists {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate variable name",
				Detail:   fmt.Sprintf("A variable named %q was already declared at %s.", v.Name, prev.DeclRange),
				Subject:  block.LabelRanges[0].Ptr(),
			})
			continue
		}
		declared[v.Name] = v
		if moreDiags.HasErrors() {
			values[v.Name] = cty.DynamicVal
			continue
		}

		val, moreDiags := v.resolve(vars)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			val = cty.DynamicVal
		}
		values[v.Name] = val
	}

	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if declared[name] != nil {
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Undeclared variable",
			Detail:   fmt.Sprintf("A value was given for var.%s, but the jobfile declares no variable %q.", name, name),
		})
	}
	return values, diags
}

func decodeVariable(block *hcl.Block) (*variable, hcl.Diagnostics) {
	v := &variable{
		Name:      block.Labels[0],
		Type:      cty.DynamicPseudoType,
		DeclRange: block.DefRange,
	}

	var diags hcl.Diagnostics
	if !hclsyntax.ValidIdentifier(v.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   "A variable name must start with a letter or underscore and contain only letters, digits, underscores, and dashes.",
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}

	content, moreDiags := block.Body.Content(variableSchema)
	diags = append(diags, moreDiags...)

	typeOK := true
	if attr, ok := content.Attributes["type"]; ok {
		ty, moreDiags := typeexpr.TypeConstraint(attr.Expr)
		diags = append(diags, moreDiags...)
		typeOK = !moreDiags.HasErrors()
		if typeOK {
			v.Type = ty
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		val, moreDiags := attr.Expr.Value(nil)
		diags = append(diags, moreDiags...)
		if _, err := convert.Convert(val, cty.String); !moreDiags.HasErrors() && err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Incorrect attribute value type",
				Detail:   fmt.Sprintf("Inappropriate value for argument \"description\": %s.", err),
				Subject:  attr.Expr.Range().Ptr(),
			})
		}
	}
	if attr, ok := content.Attributes["default"]; ok {
		val, moreDiags := attr.Expr.Value(nil)
		diags = append(diags, moreDiags...)
		if typeOK && !moreDiags.HasErrors() {
			val, err := convert.Convert(val, v.Type)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value",
					Detail:   fmt.Sprintf("The default value of var.%s is not a valid %s: %s.", v.Name, typeexpr.TypeString(v.Type), err),
					Subject:  attr.Expr.Range().Ptr(),
				})
			} else {
				v.Default = val
				v.HasDefault = true
			}
		}
	}
	return v, diags
}

// resolve returns the value of v: the one given in vars, or else its
// default.
func (v *variable) resolve(vars map[string]string) (cty.Value, hcl.Diagnostics) {
	raw, given := vars[v.Name]
	switch {
	case given && (v.Type.Equals(cty.String) || v.Type.Equals(cty.DynamicPseudoType)):
		return cty.StringVal(raw), nil
	case given:
		return v.parse(raw)
	case v.HasDefault:
		return v.Default, nil
	}
	return cty.DynamicVal, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "No value for required variable",
		Detail:   fmt.Sprintf("The variable %q has no default, so a value must be given with -var %s=VALUE.", v.Name, v.Name),
		Subject:  v.DeclRange.Ptr(),
	}}
}

// parse parses raw, given on the command line, as an HCL expression and
// converts its value to the variable's type.
func (v *variable) parse(raw string) (cty.Value, hcl.Diagnostics) {
	filename := fmt.Sprintf("<value for var.%s>", v.Name)
	expr, diags := hclsyntax.ParseExpression([]byte(raw), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	val, err := convert.Convert(val, v.Type)
	if err != nil {
		return cty.DynamicVal, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The value given for var.%s is not a valid %s: %s.", v.Name, typeexpr.TypeString(v.Type), err),
			Subject:  v.DeclRange.Ptr(),
		})
	}
	return val, diags
}
