package jobfile

import (
	"bytes"
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

	// MaxTasks and MaxWork replace the limits of the same names for this
	// load, for a user whose jobfiles need more (or whose untrusted ones
	// should get less); 0 keeps MaxTasks and MaxWork. They are the
	// caller's to set, never the jobfile's.
	MaxTasks, MaxWork int
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
// order, then -var. Each is read and checked as the jobfile is: at most
// MaxFileBytes, a var file only if it is a regular file, and an HCL var
// file's expressions metered.
func (l *loader) gatherValues(opts Options, declared map[string]*variable) (map[string]rawValue, hcl.Diagnostics) {
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
		if len(val) > MaxSourceBytes {
			diags = append(diags, valueTooLarge("The environment variable "+EnvPrefix+name, len(val)))
			continue
		}
		out[name] = rawValue{text: val, where: "environment variable " + EnvPrefix + name}
	}
	for _, path := range opts.VarFiles {
		var src []byte
		var err error
		if path == StdinVarFile {
			src = opts.Stdin
			if len(src) > MaxFileBytes {
				err = fmt.Errorf("it is %d bytes, over the limit of %d", len(src), MaxFileBytes)
			}
		} else {
			src, err = readFile(path, MaxFileBytes)
		}
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Failed to read file",
				Detail:   fmt.Sprintf("The var file %s could not be read: %s.", varFileName(path), err),
			})
			continue
		}
		p := hclparse.NewParser()
		var f *hcl.File
		var moreDiags hcl.Diagnostics
		name := path
		isJSON := strings.EqualFold(filepath.Ext(path), ".json")
		if path == StdinVarFile {
			// JSON if it starts with "{" (which HCL's native syntax cannot).
			name, isJSON = stdinName, bytes.HasPrefix(bytes.TrimLeft(src, " \t\r\n"), []byte("{"))
		}
		if isJSON {
			if moreDiags = checkJSON(src, name, 0); !moreDiags.HasErrors() {
				f, moreDiags = p.ParseJSON(src, name)
			}
		} else if moreDiags = checkSource(src, name, sourceConfig); !moreDiags.HasErrors() {
			f, moreDiags = p.ParseHCL(src, name)
			if body, ok := f.Body.(*hclsyntax.Body); ok && !moreDiags.HasErrors() {
				moreDiags = l.meter.instrument(body, l.fns)
			}
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
		if len(opts.Vars[name]) > MaxSourceBytes {
			diags = append(diags, valueTooLarge("The value of -var "+name, len(opts.Vars[name])))
			continue
		}
		out[name] = rawValue{text: opts.Vars[name], where: "-var " + name}
	}
	return out, diags
}

// valueTooLarge is the diagnostic for a -var or environment value of n
// bytes, over MaxSourceBytes.
func valueTooLarge(what string, n int) *hcl.Diagnostic {
	return limitDiag("Value too large", fmt.Sprintf("%s is %s bytes long; a value may be at most %s", what, thousands(n), thousands(MaxSourceBytes)), nil)
}

// decodeVariables decodes the variable blocks and resolves each variable
// from opts or from its default, then checks its validation blocks. A
// variable that fails to resolve is cty.DynamicVal in the result, so that
// expressions using it evaluate to unknown values instead of repeating the
// error. Values of sensitive variables carry sensitiveMark.
func (l *loader) decodeVariables(blocks hcl.Blocks, opts Options) (map[string]cty.Value, map[string]*variable, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	values := make(map[string]cty.Value)
	declared := make(map[string]*variable)
	var order []*variable
	failed := map[string]bool{}

	for _, block := range blocks {
		v, moreDiags := l.decodeVariable(block)
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

	given, moreDiags := l.gatherValues(opts, declared)
	diags = append(diags, moreDiags...)

	for _, v := range order {
		if failed[v.Name] {
			values[v.Name] = cty.DynamicVal
			continue
		}
		val, moreDiags := l.resolve(v, given)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			values[v.Name] = cty.DynamicVal
			continue
		}
		moreDiags = l.validate(v, val)
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

func (l *loader) decodeVariable(block *hcl.Block) (*variable, hcl.Diagnostics) {
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
		diags = append(diags, l.literalOf(attr, cty.String, nil)...)
	}
	if attr, ok := content.Attributes["sensitive"]; ok {
		var b cty.Value
		diags = append(diags, l.literalOf(attr, cty.Bool, &b)...)
		if b != cty.NilVal && b.IsKnown() && !b.IsNull() {
			v.Sensitive = b.True()
		}
	}
	if attr, ok := content.Attributes["default"]; ok {
		v.DefaultRange = attr.Expr.Range()
		val, moreDiags := l.literalValue(attr.Expr)
		diags = append(diags, moreDiags...)
		if typeOK && !moreDiags.HasErrors() {
			val, err := convertChecked(val, v.Type)
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

// literalValue evaluates an expression that may use neither variables
// nor functions (a default, a var file's value): as expr.Value(nil) does,
// but with the meter's hooks, which are function calls.
func (l *loader) literalValue(expr hcl.Expression) (cty.Value, hcl.Diagnostics) {
	se, ok := expr.(hclsyntax.Expression)
	if !ok {
		return expr.Value(nil)
	}
	var diags hcl.Diagnostics
	hclsyntax.VisitAll(se, func(n hclsyntax.Node) hcl.Diagnostics {
		if call, ok := n.(*hclsyntax.FunctionCallExpr); ok && !isHook(call.Name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity:   hcl.DiagError,
				Summary:    "Function calls not allowed",
				Detail:     "Functions may not be called here.",
				Subject:    call.Range().Ptr(),
				Expression: call,
			})
		}
		return nil
	})
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	val, diags := expr.Value(l.literal)
	rewriteLimitDiags(diags)
	return val, diags
}

// convertChecked is convert.Convert (in linear time, convertFast), after
// checking the strings it would read as numbers (checkConvert).
func convertChecked(val cty.Value, ty cty.Type) (cty.Value, error) {
	if err := checkConvert(val, ty); err != nil {
		return cty.NilVal, err
	}
	return convertFast(val, ty)
}

// literalOf checks that attr is a constant of type ty, storing it in out
// when out is not nil.
func (l *loader) literalOf(attr *hcl.Attribute, ty cty.Type, out *cty.Value) hcl.Diagnostics {
	val, diags := l.literalValue(attr.Expr)
	if diags.HasErrors() {
		return diags
	}
	cv, err := convertChecked(val, ty)
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
func (l *loader) resolve(v *variable, given map[string]rawValue) (cty.Value, hcl.Diagnostics) {
	raw, ok := given[v.Name]
	switch {
	case ok && raw.expr != nil:
		val, diags := l.literalValue(raw.expr)
		if diags.HasErrors() {
			return cty.DynamicVal, diags
		}
		if _, err := checkValue(val); err != nil {
			return cty.DynamicVal, hcl.Diagnostics{limitDiag(err.summary, err.detail, raw.expr.Range().Ptr())}
		}
		return v.convert(val, raw.where, raw.expr.Range().Ptr())
	case ok && (v.Type.Equals(cty.String) || v.Type.Equals(cty.DynamicPseudoType)):
		return cty.StringVal(raw.text), nil
	case ok:
		return l.parse(v, raw)
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
func (l *loader) parse(v *variable, raw rawValue) (cty.Value, hcl.Diagnostics) {
	filename := fmt.Sprintf("<value for var.%s>", v.Name)
	if diags := checkSource([]byte(raw.text), filename, sourceExpression); diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw.text), filename, hcl.InitialPos)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	if diags := l.meter.instrument(expr, l.fns); diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	val, diags := l.literalValue(expr)
	if diags.HasErrors() {
		return cty.DynamicVal, diags
	}
	if _, err := checkValue(val); err != nil {
		return cty.DynamicVal, hcl.Diagnostics{limitDiag(err.summary, fmt.Sprintf("The value of %s: %s", raw.where, lowerFirst(err.detail)), v.DeclRange.Ptr())}
	}
	return v.convert(val, raw.where, v.DeclRange.Ptr())
}

func (v *variable) convert(val cty.Value, where string, subject *hcl.Range) (cty.Value, hcl.Diagnostics) {
	val, err := convertChecked(val, v.Type)
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
func (l *loader) validate(v *variable, val cty.Value) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if len(v.Validations) == 0 {
		return nil
	}
	if l.validateFns == nil {
		l.validateFns = l.meter.functions("")
	}
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})},
		Functions: l.validateFns,
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
