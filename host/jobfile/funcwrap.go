package jobfile

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// wrapFunctions wraps each function of fns so that a call counts its work
// and checks its arguments and result against the limits, and, for the
// functions whose result can be much larger than their arguments (or take
// much longer to make), checks beforehand what the call would make.
// Hooks are added as they are.
func (m *meter) wrapFunctions(fns map[string]function.Function) map[string]function.Function {
	out := make(map[string]function.Function, len(fns)+3)
	for name, f := range fns {
		out[name] = m.wrapFunction(name, f)
	}
	for name, f := range m.hooks() {
		out[name] = f
	}
	return out
}

func (m *meter) wrapFunction(name string, inner function.Function) function.Function {
	// A parameter of a list, set or map type takes its argument as any
	// value here, and converts it itself (convertFast): HCL's conversion
	// of a tuple of n elements to a list takes time quadratic in n.
	params := inner.Params()
	targets := make([]cty.Type, len(params))
	for i := range params {
		if isCollection(params[i].Type) {
			targets[i], params[i].Type = params[i].Type, cty.DynamicPseudoType
		}
	}
	varParam := inner.VarParam()
	var varTarget cty.Type
	if varParam != nil && isCollection(varParam.Type) {
		p := *varParam
		varTarget, p.Type, varParam = p.Type, cty.DynamicPseudoType, &p
	}
	convertArgs := func(args []cty.Value) ([]cty.Value, error) {
		out, copied := args, false
		for i, a := range args {
			target := varTarget
			if i < len(targets) {
				target = targets[i]
			}
			if target == cty.NilType {
				continue
			}
			v, err := convertFast(a, target)
			if err != nil {
				return nil, function.NewArgError(i, err)
			}
			if !copied {
				out, copied = append([]cty.Value(nil), args...), true
			}
			out[i] = v
		}
		return out, nil
	}
	typ := func(args []cty.Value) (cty.Type, error) {
		args, err := convertArgs(args)
		if err != nil {
			return cty.NilType, err
		}
		return inner.ReturnTypeForValues(args)
	}
	if name == "try" {
		// try's type is that of the first of its expressions that
		// evaluates, so finding it evaluates them: once is enough.
		typ = function.StaticReturnType(cty.DynamicPseudoType)
	}
	pre := preChecks[name]
	return function.New(&function.Spec{
		Description: inner.Description(),
		Params:      params,
		VarParam:    varParam,
		Type:        typ,
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			args, err := convertArgs(args)
			if err != nil {
				return cty.NilVal, err
			}
			steps := 1
			for _, a := range args {
				s, err := checkValue(a)
				steps += s
				if err != nil {
					m.charge(steps, nil)
					return cty.NilVal, m.refused(err, nil)
				}
			}
			m.charge(steps, nil)
			if pre != nil {
				if err := pre(args); err != nil {
					return cty.NilVal, m.refused(err, nil)
				}
			}
			v, err := inner.Call(args)
			if err != nil {
				return v, err
			}
			s, lerr := checkValue(v)
			m.charge(s, nil)
			if lerr != nil {
				return cty.NilVal, m.refused(lerr, nil)
			}
			return v, nil
		},
	})
}

// isCollection reports whether ty is a list, set or map type.
func isCollection(ty cty.Type) bool {
	return ty.IsListType() || ty.IsSetType() || ty.IsMapType()
}

// convertFast is convert.Convert, in linear time for a tuple converted to
// a list or set, or an object to a map. go-cty unifies the types of all
// the elements, comparing each with every other, however alike they are:
// time quadratic in their number. Here the distinct types (most often
// one) are found first, only they are unified, and each element is
// converted on its own.
func convertFast(v cty.Value, ty cty.Type) (cty.Value, error) {
	vt := v.Type()
	if !isCollection(ty) || !v.IsKnown() || v.IsNull() || v.IsMarked() ||
		!(vt.IsTupleType() && !ty.IsMapType() || vt.IsObjectType() && ty.IsMapType()) {
		return convert.Convert(v, ty)
	}
	ety := ty.ElementType()
	if ety == cty.DynamicPseudoType {
		var distinct []cty.Type
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if !slices.ContainsFunc(distinct, e.Type().Equals) {
				if distinct = append(distinct, e.Type()); len(distinct) > 16 {
					return convert.Convert(v, ty)
				}
			}
		}
		if len(distinct) == 0 {
			return convert.Convert(v, ty)
		}
		if ety, _ = convert.Unify(distinct); ety == cty.NilType {
			// go-cty's own error, from one element of each type.
			sample := make([]cty.Value, len(distinct))
			for i, t := range distinct {
				sample[i] = cty.UnknownVal(t)
			}
			one := cty.TupleVal(sample)
			if vt.IsObjectType() {
				attrs := make(map[string]cty.Value, len(sample))
				for i, e := range sample {
					attrs[fmt.Sprint(i)] = e
				}
				one = cty.ObjectVal(attrs)
			}
			if _, err := convert.Convert(one, ty); err != nil {
				return cty.NilVal, err
			}
			return convert.Convert(v, ty)
		}
	}
	var elems []cty.Value
	var attrs map[string]cty.Value
	if vt.IsObjectType() {
		attrs = make(map[string]cty.Value, len(vt.AttributeTypes()))
	} else {
		elems = make([]cty.Value, 0, v.LengthInt())
	}
	var first cty.Type
	for it := v.ElementIterator(); it.Next(); {
		k, e := it.Element()
		c, err := convertFast(e, ety)
		if err != nil {
			if vt.IsObjectType() {
				return cty.NilVal, fmt.Errorf("element %q: %w", k.AsString(), err)
			}
			return cty.NilVal, fmt.Errorf("element %s: %w", k.AsBigFloat().Text('f', -1), err)
		}
		if first == cty.NilType {
			first = c.Type()
		} else if !c.Type().Equals(first) {
			// Elements of a type with parts of any type that differ:
			// go-cty knows how to make them one.
			return convert.Convert(v, ty)
		}
		if attrs != nil {
			attrs[k.AsString()] = c
		} else {
			elems = append(elems, c)
		}
	}
	switch {
	case ty.IsMapType() && len(attrs) == 0:
		return cty.MapValEmpty(ety), nil
	case ty.IsMapType():
		return cty.MapVal(attrs), nil
	case len(elems) == 0 && ty.IsSetType():
		return cty.SetValEmpty(ety), nil
	case len(elems) == 0:
		return cty.ListValEmpty(ety), nil
	case ty.IsSetType():
		return cty.SetVal(elems), nil
	}
	return cty.ListVal(elems), nil
}

// preChecks check, before a call, what the functions whose results can be
// far larger than their arguments, or far slower to make, would make.
var preChecks = map[string]func(args []cty.Value) *limitError{
	"setproduct":    checkSetProduct,
	"format":        func(args []cty.Value) *limitError { return checkFormat(args, 1) },
	"formatlist":    checkFormatList,
	"indent":        checkIndent,
	"join":          checkJoin,
	"replace":       checkReplace,
	"regex_replace": checkRegexReplace,
	"regexall":      checkRegexAll,
	"split":         checkSplit,
	"csvdecode":     checkCSVDecode,
	"jsondecode":    checkJSONDecode,
	"tonumber":      checkNumberArg,
	"parseint":      checkNumberArg,
}

// known returns v without its own marks, and whether it is wholly known
// and not null.
func known(v cty.Value) (cty.Value, bool) {
	v, _ = v.Unmark()
	return v, v.IsWhollyKnown() && !v.IsNull()
}

// knownString returns the string of v (an element, perhaps marked), or
// false when v is not a known string.
func knownString(v cty.Value) (string, bool) {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return "", false
	}
	return v.AsString(), true
}

func tooLarge(what string, limit int, unit string) *limitError {
	return &limitError{"Value too large", fmt.Sprintf("The result would hold %s %s; a value may hold at most %s", what, unit, thousands(limit))}
}

func checkSetProduct(args []cty.Value) *limitError {
	n := 1
	for _, a := range args {
		a, ok := known(a)
		if !ok || !a.CanIterateElements() {
			return nil
		}
		n *= a.LengthInt()
		if n > MaxValueElements {
			return tooLarge("more than "+thousands(MaxValueElements), MaxValueElements, "elements")
		}
	}
	return nil
}

// formatVerbs calls f with each verb of a format string: its letter,
// width and precision (-1 when not given) and the index of the argument
// it formats (-1 for %%), as go-cty's format reads them.
func formatVerbs(format string, f func(verb byte, width, prec, arg int)) {
	arg := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		if i < len(format) && format[i] == '[' {
			n, j := 0, i+1
			for j < len(format) && format[j] >= '0' && format[j] <= '9' && n <= MaxValueElements {
				n = n*10 + int(format[j]-'0')
				j++
			}
			if j < len(format) && format[j] == ']' {
				arg = n - 1
				i = j + 1
			}
		}
		num := func() int {
			n := -1
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				if n < 0 {
					n = 0
				}
				if n <= MaxFormatWidth {
					n = n*10 + int(format[i]-'0')
				}
				i++
			}
			return n
		}
		width, prec := num(), -1
		if i < len(format) && format[i] == '.' {
			i++
			prec = max(num(), 0)
		}
		if i >= len(format) {
			return
		}
		if format[i] == '%' {
			f('%', width, prec, -1)
			continue
		}
		f(format[i], width, prec, arg)
		arg++
	}
}

// checkFormat checks a format (args[0]) and its arguments, each holding
// up to each values (formatlist's lists): widths and precisions at most
// MaxFormatWidth, and no string of more than MaxNumberLength characters
// given to a number verb (%d, %f…), which reads it as a number.
func checkFormat(args []cty.Value, each int) *limitError {
	format, ok := known(args[0])
	if !ok || format.Type() != cty.String {
		return nil
	}
	var err *limitError
	size := len(format.AsString())
	formatVerbs(format.AsString(), func(verb byte, width, prec, arg int) {
		if err != nil {
			return
		}
		if width > MaxFormatWidth || prec > MaxFormatWidth {
			err = &limitError{"Format width too large", fmt.Sprintf("A width or precision in this format is over %s; it may be at most %s", thousands(MaxFormatWidth), thousands(MaxFormatWidth))}
			return
		}
		size += max(width, 0) + max(prec, 0)
		if arg < 0 || arg+1 >= len(args) || strings.IndexByte("dfeEgGbboxX", verb) < 0 {
			return
		}
		a, ok := known(args[arg+1])
		if !ok {
			return
		}
		if a.Type() == cty.String {
			err = checkNumberText(a.AsString())
		} else if a.CanIterateElements() {
			err = numberOperand(a)
		}
	})
	if err == nil && each*size > MaxValueBytes {
		err = tooLarge("about "+thousands(each*size), MaxValueBytes, "bytes of text")
	}
	return err
}

func checkFormatList(args []cty.Value) *limitError {
	n, longest := 1, 0
	for _, a := range args[1:] {
		a, ok := known(a)
		if !ok {
			return nil
		}
		switch {
		case a.Type() == cty.String:
			longest = max(longest, len(a.AsString()))
		case a.CanIterateElements():
			n = max(n, a.LengthInt())
			for it := a.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if s, ok := knownString(e); ok {
					longest = max(longest, len(s))
				}
			}
		}
	}
	if n*longest > MaxValueBytes {
		return tooLarge("about "+thousands(n*longest), MaxValueBytes, "bytes of text")
	}
	return checkFormat(args, n)
}

func checkIndent(args []cty.Value) *limitError {
	spaces, ok1 := known(args[0])
	str, ok2 := known(args[1])
	if !ok1 || !ok2 {
		return nil
	}
	n, _ := spaces.AsBigFloat().Int64()
	lines := int64(strings.Count(str.AsString(), "\n"))
	if n > MaxValueBytes || n*lines+int64(len(str.AsString())) > MaxValueBytes {
		return tooLarge("more than "+thousands(MaxValueBytes), MaxValueBytes, "bytes of text")
	}
	return nil
}

func checkJoin(args []cty.Value) *limitError {
	sep, ok := known(args[0])
	if !ok {
		return nil
	}
	size, count := 0, 0
	for _, l := range args[1:] {
		l, ok := known(l)
		if !ok || !l.CanIterateElements() {
			return nil
		}
		for it := l.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if s, ok := knownString(e); ok {
				size += len(s)
			}
			count++
		}
	}
	size += max(count-1, 0) * len(sep.AsString())
	if size > MaxValueBytes {
		return tooLarge(thousands(size), MaxValueBytes, "bytes of text")
	}
	return nil
}

func checkReplace(args []cty.Value) *limitError {
	str, ok1 := known(args[0])
	sub, ok2 := known(args[1])
	repl, ok3 := known(args[2])
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	s, old, new := str.AsString(), sub.AsString(), repl.AsString()
	if len(new) <= len(old) {
		return nil
	}
	n := strings.Count(s, old) // for "", one more than the runes of s
	if size := len(s) + n*(len(new)-len(old)); size > MaxValueBytes {
		return tooLarge("more than "+thousands(MaxValueBytes), MaxValueBytes, "bytes of text")
	}
	return nil
}

func checkRegexReplace(args []cty.Value) *limitError {
	str, ok1 := known(args[0])
	pat, ok2 := known(args[1])
	repl, ok3 := known(args[2])
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	re, err := regexp.Compile(pat.AsString())
	if err != nil {
		return nil // the function says what is wrong
	}
	s, template := str.AsString(), repl.AsString()
	size := len(s)
	var buf []byte
	for _, match := range re.FindAllStringSubmatchIndex(s, MaxValueBytes) {
		buf = re.ExpandString(buf[:0], template, s, match)
		size += len(buf) - (match[1] - match[0])
		if size > MaxValueBytes {
			return tooLarge("more than "+thousands(MaxValueBytes), MaxValueBytes, "bytes of text")
		}
	}
	return nil
}

func checkRegexAll(args []cty.Value) *limitError {
	pat, ok1 := known(args[0])
	str, ok2 := known(args[1])
	if !ok1 || !ok2 {
		return nil
	}
	re, err := regexp.Compile(pat.AsString())
	if err != nil {
		return nil
	}
	if n := len(re.FindAllStringIndex(str.AsString(), MaxValueElements+1)); n > MaxValueElements {
		return tooLarge("more than "+thousands(MaxValueElements), MaxValueElements, "matches")
	}
	return nil
}

func checkSplit(args []cty.Value) *limitError {
	sep, ok1 := known(args[0])
	str, ok2 := known(args[1])
	if !ok1 || !ok2 {
		return nil
	}
	n := strings.Count(str.AsString(), sep.AsString()) + 1
	if sep.AsString() == "" {
		n = utf8.RuneCountInString(str.AsString())
	}
	if n > MaxValueElements {
		return tooLarge(thousands(n), MaxValueElements, "elements")
	}
	return nil
}

func checkCSVDecode(args []cty.Value) *limitError {
	str, ok := known(args[0])
	if !ok {
		return nil
	}
	s := str.AsString()
	if n := strings.Count(s, ",") + strings.Count(s, "\n") + 1; n > MaxValueElements {
		return tooLarge("up to "+thousands(n), MaxValueElements, "fields")
	}
	return nil
}

func checkJSONDecode(args []cty.Value) *limitError {
	str, ok := known(args[0])
	if !ok {
		return nil
	}
	if diags := checkJSON([]byte(str.AsString()), "jsondecode", MaxValueElements); diags.HasErrors() {
		return &limitError{diags[0].Summary, strings.TrimSuffix(strings.TrimSuffix(diags[0].Detail, "."), " ("+limitsDoc+")")}
	}
	return nil
}

func checkNumberArg(args []cty.Value) *limitError {
	v, ok := known(args[0])
	if ok && v.Type() == cty.String {
		return checkNumberText(v.AsString())
	}
	return nil
}

// distinctFunc is go-cty's distinct in linear time: go-cty compares each
// element with every one kept, in time quadratic in the list's length.
var distinctFunc = function.New(&function.Spec{
	Description: `Removes any duplicate values from the given list, preserving the order of remaining elements.`,
	Params:      []function.Parameter{{Name: "list", Type: cty.List(cty.DynamicPseudoType)}},
	Type:        func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
	Impl: func(args []cty.Value, retType cty.Type) (cty.Value, error) {
		list := args[0]
		if !list.IsWhollyKnown() {
			return cty.UnknownVal(retType), nil
		}
		var out []cty.Value
		seen := map[string]bool{}
		for it := list.ElementIterator(); it.Next(); {
			_, v := it.Element()
			key := distinctKey(v)
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, v)
		}
		if len(out) == 0 {
			return cty.ListValEmpty(retType.ElementType()), nil
		}
		return cty.ListVal(out), nil
	},
})

// distinctKey is a key that two wholly known, unmarked values of a list
// share when they are equal: a number as its exact binary value, anything
// else as its JSON.
func distinctKey(v cty.Value) string {
	switch {
	case v.IsNull():
		return "null"
	case v.Type() == cty.Number:
		return "n" + v.AsBigFloat().Text('p', 0)
	}
	b, err := ctyjson.Marshal(v, v.Type())
	if err != nil {
		return "?" + v.GoString()
	}
	return "j" + string(b)
}
