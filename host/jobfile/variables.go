package jobfile

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// EnvPrefix starts the name of an environment variable that gives a value
// to a jobfile variable: TASKHOST_VAR_device=r1 sets var.device.
const EnvPrefix = "TASKHOST_VAR_"

// Options are what a jobfile is loaded with besides its text: the values
// of its variables. The zero value gives none, so every variable takes its
// default.
type Options struct {
	// Vars are the -var NAME=VALUE values, the highest in precedence.
	Vars map[string]string

	// VarFiles are the -var-file paths, in command-line order; a later
	// file overrides an earlier one. A file whose name ends in .json is
	// JSON ({"name": value}); any other is HCL (name = value).
	VarFiles []string

	// Environ is the environment as os.Environ gives it; its
	// TASKHOST_VAR_NAME entries are the lowest in precedence after the
	// defaults. Nil reads no environment.
	Environ []string

	// Stdin is what a var file named "-" (StdinVarFile) holds: the
	// caller's standard input, read by the caller.
	Stdin []byte
}

// sensitiveMark marks a value that comes from a sensitive variable. It
// follows the value through expressions and functions.
const sensitiveMark = "sensitive"

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
		{Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "validation"},
	},
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
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
	// DefaultRange is the range of the default's expression.
	DefaultRange hcl.Range

	Sensitive   bool
	Validations []*validation

	DeclRange hcl.Range
}

type validation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
}

// rawValue is a value given for a variable from outside the jobfile.
type rawValue struct {
	// text is a -var or environment value; expr is from a var file.
	text  string
	expr  hcl.Expression
	where string
}

// gatherValues collects the values given for variables, lowest precedence
// first so that later ones override: the environment, the var files in
// order, then -var.
func gatherValues(opts Options, declared map[string]*variable) (map[string]rawValue, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := map[string]rawValue{}
	for _, kv := range opts.Environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		name = strings.TrimPrefix(name, EnvPrefix)
		if declared[name] == nil {
			// The environment is shared with other jobfiles: ignore.
			continue
		}
		out[name] = rawValue{text: val, where: "environment variable " + EnvPrefix + name}
	}
	for _, path := range opts.VarFiles {
		p := hclparse.NewParser()
		var f *hcl.File
		var moreDiags hcl.Diagnostics
		if path == StdinVarFile {
			f, moreDiags = parseStdinVarFile(p, opts.Stdin)
		} else if strings.EqualFold(filepath.Ext(path), ".json") {
			f, moreDiags = p.ParseJSONFile(path)
		} else {
			f, moreDiags = p.ParseHCLFile(path)
		}
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() || f == nil {
			continue
		}
		attrs, moreDiags := f.Body.JustAttributes()
		diags = append(diags, moreDiags...)
		names := make([]string, 0, len(attrs))
		for name := range attrs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			attr := attrs[name]
			if declared[name] == nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Undeclared variable",
					Detail:   fmt.Sprintf("The file %s gives a value for var.%s, but the jobfile declares no variable %q.", varFileName(path), name, name),
					Subject:  attr.NameRange.Ptr(),
				})
				continue
			}
			out[name] = rawValue{expr: attr.Expr, where: varFileName(path)}
		}
	}
	names := make([]string, 0, len(opts.Vars))
	for name := range opts.Vars {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if declared[name] == nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Undeclared variable",
				Detail:   fmt.Sprintf("A value was given for var.%s, but the jobfile declares no variable %q.", name, name),
			})
			continue
		}
		out[name] = rawValue{text: opts.Vars[name], where: "-var " + name}
	}
	return out, diags
}

// decodeVariables decodes the variable blocks and resolves each variable
// from opts or from its default, then checks its validation blocks. A
// variable that fails to resolve is cty.DynamicVal in the result, so that
// expressions using it evaluate to unknown values instead of repeating the
// error. Values of sensitive variables carry sensitiveMark.
func decodeVariables(blocks hcl.Blocks, opts Options) (map[string]cty.Value, map[string]*variable, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	values := make(map[string]cty.Value)
	declared := make(map[string]*variable)
	var order []*variable
	failed := map[string]bool{}

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
		order = append(order, v)
		if moreDiags.HasErrors() {
			failed[v.Name] = true
		}
	}

	given, moreDiags := gatherValues(opts, declared)
	diags = append(diags, moreDiags...)

	for _, v := range order {
		if failed[v.Name] {
			values[v.Name] = cty.DynamicVal
			continue
		}
		val, moreDiags := v.resolve(given)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			values[v.Name] = cty.DynamicVal
			continue
		}
		moreDiags = v.validate(val)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			values[v.Name] = cty.DynamicVal
			continue
		}
		if v.Sensitive {
			val = val.Mark(sensitiveMark)
		}
		values[v.Name] = val
	}
	return values, declared, diags
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
		diags = append(diags, literalOf(attr, cty.String, nil)...)
	}
	if attr, ok := content.Attributes["sensitive"]; ok {
		var b cty.Value
		diags = append(diags, literalOf(attr, cty.Bool, &b)...)
		if b != cty.NilVal && b.IsKnown() && !b.IsNull() {
			v.Sensitive = b.True()
		}
	}
	if attr, ok := content.Attributes["default"]; ok {
		v.DefaultRange = attr.Expr.Range()
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
	for _, b := range content.Blocks {
		vc, moreDiags := b.Body.Content(validationSchema)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		cond, msg := vc.Attributes["condition"], vc.Attributes["error_message"]
		ok := true
		for _, tr := range cond.Expr.Variables() {
			if tr.RootName() != "var" || len(tr) < 2 || !isAttr(tr[1], v.Name) {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid validation condition",
					Detail:   fmt.Sprintf("The condition of a validation of var.%s may refer only to var.%s.", v.Name, v.Name),
					Subject:  tr.SourceRange().Ptr(),
				})
				ok = false
			}
		}
		if ok {
			v.Validations = append(v.Validations, &validation{Condition: cond.Expr, ErrorMessage: msg.Expr})
		}
	}
	return v, diags
}

func isAttr(t hcl.Traverser, name string) bool {
	a, ok := t.(hcl.TraverseAttr)
	return ok && a.Name == name
}

// literalOf checks that attr is a constant of type ty, storing it in out
// when out is not nil.
func literalOf(attr *hcl.Attribute, ty cty.Type, out *cty.Value) hcl.Diagnostics {
	val, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		return diags
	}
	cv, err := convert.Convert(val, ty)
	if err != nil || cv.IsNull() {
		msg := "a value is required"
		if err != nil {
			msg = err.Error()
		}
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for argument %q: %s.", attr.Name, msg),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	if out != nil {
		*out = cv
	}
	return diags
}

// resolve returns the value of v: the one given, or else its default.
func (v *variable) resolve(given map[string]rawValue) (cty.Value, hcl.Diagnostics) {
	raw, ok := given[v.Name]
	switch {
	case ok && raw.expr != nil:
		val, diags := raw.expr.Value(nil)
		if diags.HasErrors() {
			return cty.DynamicVal, diags
		}
		return v.convert(val, raw.where, raw.expr.Range().Ptr())
	case ok && (v.Type.Equals(cty.String) || v.Type.Equals(cty.DynamicPseudoType)):
		return cty.StringVal(raw.text), nil
	case ok:
		return v.parse(raw)
	case v.HasDefault:
		return v.Default, nil
	}
	return cty.DynamicVal, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "No value for required variable",
		Detail: fmt.Sprintf("The variable %q has no default, so a value must be given with -var %s=VALUE, in a -var-file, or in the environment variable %s%s.",
			v.Name, v.Name, EnvPrefix, v.Name),
		Subject: v.DeclRange.Ptr(),
	}}
}

// parse parses raw text, given on the command line or in the environment,
// as an HCL expression and converts its value to the variable's type.
func (v *variable) parse(raw rawValue) (cty.Value, hcl.Diagnostics) {
	filename := fmt.Sprintf("<value for var.%s>", v.Name)
	expr, diags := hclsyntax.ParseExpression([]byte(raw.text), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	return v.convert(val, raw.where, v.DeclRange.Ptr())
}

func (v *variable) convert(val cty.Value, where string, subject *hcl.Range) (cty.Value, hcl.Diagnostics) {
	val, err := convert.Convert(val, v.Type)
	if err != nil {
		return cty.DynamicVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("The value given for var.%s (%s) is not a valid %s: %s.", v.Name, where, typeexpr.TypeString(v.Type), err),
			Subject:  subject,
		}}
	}
	return val, nil
}

// validate evaluates v's validation blocks against val.
func (v *variable) validate(val cty.Value) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})},
		Functions: functions(""),
	}
	for _, vd := range v.Validations {
		res, moreDiags := vd.Condition.Value(ctx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		res, err := convert.Convert(res, cty.Bool)
		if err != nil || res.IsNull() || !res.IsKnown() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid validation condition",
				Detail:   "The condition must be true or false.",
				Subject:  vd.Condition.Range().Ptr(),
			})
			continue
		}
		if res.True() {
			continue
		}
		msg := "The value is not valid."
		if m, moreDiags := vd.ErrorMessage.Value(ctx); !moreDiags.HasErrors() {
			if s, err := convert.Convert(m, cty.String); err == nil && s.IsKnown() && !s.IsNull() {
				s, _ = s.Unmark()
				msg = s.AsString()
			}
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail:   fmt.Sprintf("var.%s: %s", v.Name, msg),
			Subject:  vd.Condition.Range().Ptr(),
		})
	}
	return diags
}
