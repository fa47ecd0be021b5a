package jobfile

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// A meter keeps the evaluation of one jobfile within the limits: every
// value that expressions make passes one of its checks (see instrument
// and wrapFunctions), which refuse a value over the limits with a
// diagnostic and count the work done. When the work passes MaxWork, the
// meter ends the goroutine evaluating (runtime.Goexit, which no recover in
// HCL or go-cty can stop, and which unwinds however deep the evaluation
// is), and run reports it.
//
// A meter belongs to one loaded jobfile: its functions and the hooks in
// the jobfile's expressions refer to it. Evaluations after the load
// (EvalDeferred) take turns on it (mu) and each starts with the whole
// budget.
type meter struct {
	mu sync.Mutex

	// running is set inside run: only there may the meter end the
	// goroutine.
	running bool

	// used is the work done, in steps; errs the limit errors found.
	used, errs int

	// sites are the ranges of the hooks, by the index each hook passes;
	// site is the last one reached, where the work ran out.
	sites []hcl.Range
	site  hcl.Range

	// stopped is the diagnostic of a stop.
	stopped *hcl.Diagnostic

	// consts holds the value of each expression made of literals
	// (isConstant) once evaluated, and nil for each expression found not
	// to be one.
	consts map[hclsyntax.Expression]*constValue

	// maxWork and maxTasks are MaxWork and MaxTasks, or smaller (for
	// fuzzing, where each input must take milliseconds).
	maxWork, maxTasks int
}

// newMeter returns a meter with the limits of the language.
func newMeter() *meter { return &meter{maxWork: MaxWork, maxTasks: MaxTasks} }

// run calls f in a goroutine of its own and waits for it. It returns the
// diagnostic of the meter's stop if the meter stopped f, else nil. A panic
// in f is raised again in the caller's goroutine, with f's stack.
func (m *meter) run(f func()) *hcl.Diagnostic {
	m.used, m.errs, m.stopped = 0, 0, nil
	done := make(chan struct{})
	var (
		finished bool
		panicked any
		stack    []byte
	)
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				panicked, stack = r, debug.Stack()
			}
		}()
		m.running = true
		defer func() { m.running = false }()
		f()
		finished = true
	}()
	<-done
	if panicked != nil {
		panic(fmt.Sprintf("%v\n\n%s", panicked, stack))
	}
	if finished {
		return nil
	}
	if m.stopped == nil {
		// f called runtime.Goexit itself: not the meter.
		panic("jobfile: evaluation ended without a result")
	}
	return m.stopped
}

// charge counts n steps of work done at rng (nil: at the last hook
// reached), and stops the evaluation when the work passes MaxWork.
func (m *meter) charge(n int, rng *hcl.Range) {
	m.used += n
	if m.used <= m.maxWork {
		return
	}
	if rng == nil {
		rng = m.site.Ptr()
		if m.site.Filename == "" {
			rng = nil
		}
	}
	m.stop(limitDiag("Too much work",
		fmt.Sprintf("Evaluating the jobfile took more than %s steps, here (each value a for expression, splat, template, operator or function makes or takes counts one step for each of its elements and for each 16 bytes of its text); nested for expressions and long chains of values are the usual cause; a large trusted job can be given more with --max-work", thousands(m.maxWork)),
		rng))
}

// chargeAt is charge with the range as a value: the range is copied to
// the heap only when the work runs out.
func (m *meter) chargeAt(n int, rng hcl.Range) {
	if m.used+n <= m.maxWork {
		m.used += n
		return
	}
	r := rng
	m.charge(n, &r)
}

// stop ends the evaluation with d.
func (m *meter) stop(d *hcl.Diagnostic) {
	m.stopped = d
	if m.running {
		runtime.Goexit()
	}
}

// refused counts a limit error and stops the evaluation after
// MaxDiagnostics of them: each costs little, and a loop could make
// millions.
func (m *meter) refused(err *limitError, rng *hcl.Range) *limitError {
	m.errs++
	if m.errs > MaxDiagnostics {
		m.stop(limitDiag(err.summary, err.detail+fmt.Sprintf("; evaluation stopped after %d such errors", MaxDiagnostics), rng))
	}
	return err
}

// limitError is the error of a value over the limits, made where the
// value is made (a hook, an operator, a function).
type limitError struct{ summary, detail string }

func (e *limitError) Error() string { return e.detail + " (" + limitsDoc + ")" }

// checkValue checks that v is within the limits (MaxValueElements,
// MaxValueBytes, MaxDepth, and every number in range) and returns the
// steps it counts: one per element, and one per 16 bytes of text. It
// stops counting at the first limit passed, so it never walks more than
// MaxValueElements elements nor recurses more than MaxDepth levels.
func checkValue(v cty.Value) (int, *limitError) {
	var w valueWalk
	w.walk(v, 0)
	return w.elems + w.bytes/16, w.err
}

type valueWalk struct {
	elems, bytes int
	err          *limitError
}

func (w *valueWalk) walk(v cty.Value, depth int) bool {
	if depth > MaxDepth {
		w.err = &limitError{"Value nested too deeply", fmt.Sprintf("This value nests more than %d levels deep", MaxDepth)}
		return false
	}
	w.elems++
	if w.elems > MaxValueElements {
		w.err = &limitError{"Value too large", fmt.Sprintf("This value holds more than %s elements (counted at every level); a value may hold at most %s", thousands(MaxValueElements), thousands(MaxValueElements))}
		return false
	}
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() {
		return true
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		w.bytes += len(v.AsString())
		if w.bytes > MaxValueBytes {
			w.err = &limitError{"Value too large", fmt.Sprintf("This value holds more than %s bytes of text; a value may hold at most %s", thousands(MaxValueBytes), thousands(MaxValueBytes))}
			return false
		}
	case ty == cty.Number:
		if err := checkNumber(v); err != nil {
			w.err = err
			return false
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsTupleType() || ty.IsMapType() || ty.IsObjectType():
		keyed := ty.IsMapType() || ty.IsObjectType()
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			if keyed {
				w.bytes += len(k.AsString())
			}
			if !w.walk(e, depth+1) {
				return false
			}
		}
		if w.bytes > MaxValueBytes {
			w.err = &limitError{"Value too large", fmt.Sprintf("This value holds more than %s bytes of text; a value may hold at most %s", thousands(MaxValueBytes), thousands(MaxValueBytes))}
			return false
		}
	}
	return true
}

// checkNumber checks that the known number v is infinite, zero, or within
// the range of a 64-bit float: beyond it, writing the number out in full
// (in results.json, a string, a diagnostic) takes time and space that
// grow with its exponent.
func checkNumber(v cty.Value) *limitError {
	f := v.AsBigFloat()
	if f.IsInf() || f.Sign() == 0 {
		return nil
	}
	if e := f.MantExp(nil); e > 1024 || e < -1021 {
		return &limitError{"Number out of range", "This number is beyond the range of a 64-bit float; a number other than 0 may be from ±2.2e-308 to ±1.8e308"}
	}
	return nil
}

// checkNumberText checks that a string that may be read as a number is
// not longer than MaxNumberLength.
func checkNumberText(s string) *limitError {
	if len(s) > MaxNumberLength {
		return &limitError{"Number too long", fmt.Sprintf("A string of %s characters is used as a number; a number may have at most %d", thousands(len(s)), MaxNumberLength)}
	}
	return nil
}

// checkConvert checks the strings of v that converting v to ty would read
// as numbers (checkNumberText), before the conversion reads them.
func checkConvert(v cty.Value, ty cty.Type) *limitError {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() || ty == cty.DynamicPseudoType {
		return nil
	}
	vt := v.Type()
	switch {
	case ty == cty.Number:
		if vt == cty.String {
			return checkNumberText(v.AsString())
		}
	case ty.IsListType() || ty.IsSetType() || ty.IsMapType():
		if v.CanIterateElements() {
			for it := v.ElementIterator(); it.Next(); {
				_, e := it.Element()
				if err := checkConvert(e, ty.ElementType()); err != nil {
					return err
				}
			}
		}
	case ty.IsObjectType():
		if vt.IsObjectType() || vt.IsMapType() {
			for name, at := range ty.AttributeTypes() {
				if vt.IsObjectType() && !vt.HasAttribute(name) {
					continue
				}
				var e cty.Value
				if vt.IsObjectType() {
					e = v.GetAttr(name)
				} else if k := cty.StringVal(name); v.HasIndex(k).True() {
					e = v.Index(k)
				} else {
					continue
				}
				if err := checkConvert(e, at); err != nil {
					return err
				}
			}
		}
	case ty.IsTupleType():
		if (vt.IsTupleType() || vt.IsListType()) && v.LengthInt() == len(ty.TupleElementTypes()) {
			i := 0
			for it := v.ElementIterator(); it.Next(); i++ {
				_, e := it.Element()
				if err := checkConvert(e, ty.TupleElementTypes()[i]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Names of the hooks instrument puts in expressions: no identifier of the
// language can name them.
const (
	hookValue  = "limits:value"
	hookNumber = "limits:number"
	hookKey    = "limits:key"
	hookPart   = "limits:part"
)

// hooks returns the meter's hook functions, by name. Each takes a value
// and the index of its site, checks the value, counts its steps and
// returns it unchanged.
func (m *meter) hooks() map[string]function.Function {
	mk := func(extra func(v cty.Value) *limitError, bytesPerStep int) function.Function {
		return function.New(&function.Spec{
			Description: "Checks a value against the jobfile's limits.",
			Params: []function.Parameter{
				{Name: "value", Type: cty.DynamicPseudoType, AllowNull: true, AllowUnknown: true, AllowDynamicType: true, AllowMarked: true},
				{Name: "site", Type: cty.Number},
			},
			Type: func(args []cty.Value) (cty.Type, error) { return args[0].Type(), nil },
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				i, _ := args[1].AsBigFloat().Int64()
				var rng *hcl.Range
				if i >= 0 && int(i) < len(m.sites) {
					m.site = m.sites[i]
					rng = m.site.Ptr()
				}
				steps, err := checkValue(args[0])
				if bytesPerStep > 0 {
					// A template copies its parts: count their text more.
					if s, ok := knownString(args[0]); ok {
						steps += len(s) / bytesPerStep
					}
				}
				m.charge(steps, rng)
				if err == nil && extra != nil {
					err = extra(args[0])
				}
				if err != nil {
					return cty.NilVal, m.refused(err, rng)
				}
				return args[0], nil
			},
		})
	}
	return map[string]function.Function{
		hookValue:  mk(nil, 0),
		hookNumber: mk(numberOperand, 0),
		hookKey:    mk(indexKey, 0),
		hookPart:   mk(nil, 4),
	}
}

// numberOperand checks a value about to be converted to a number (an
// operand of arithmetic, an argument of a number parameter): a string,
// or the strings of a list expanded into arguments (f(list...)).
func numberOperand(v cty.Value) *limitError {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() {
		return nil
	}
	if v.Type() == cty.String {
		return checkNumberText(v.AsString())
	}
	if v.CanIterateElements() {
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			if e, _ = e.Unmark(); e.IsKnown() && !e.IsNull() && e.Type() == cty.String {
				if err := checkNumberText(e.AsString()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// indexKey checks the key of an index, x[key]: a string key indexing a
// list or tuple is read as a number.
func indexKey(v cty.Value) *limitError {
	v, _ = v.Unmark()
	if !v.IsKnown() || v.IsNull() || v.Type() != cty.String {
		return nil
	}
	s := strings.TrimSpace(v.AsString())
	if s != "" && strings.ContainsRune("+-.0123456789", rune(s[0])) {
		return checkNumberText(s)
	}
	return nil
}

// rewriteLimitDiags gives the diagnostics HCL makes of a limitError
// returned by a hook or a function the error's own summary and detail, in
// place of HCL's "Error in function call" naming a hook.
func rewriteLimitDiags(diags hcl.Diagnostics) {
	for _, d := range diags {
		extra, ok := d.Extra.(hclsyntax.FunctionCallDiagExtra)
		if !ok {
			continue
		}
		var le *limitError
		if !errors.As(extra.FunctionCallError(), &le) {
			continue
		}
		d.Summary = le.summary
		switch name := extra.CalledFunctionName(); name {
		case hookValue, hookNumber, hookKey, hookPart:
			d.Detail = le.Error() + "."
		default:
			d.Detail = fmt.Sprintf("In the call to %s: %s.", name, le.Error())
		}
	}
}

// value evaluates expr in ctx and checks its value against the limits,
// counting its steps: what an attribute, an argument or a key evaluates
// to, before anything walks it. A value written out with the same large
// value many times ([local.big, local.big, …]) holds far more than it
// took to make; walking it once stops at the limit.
func (m *meter) value(expr hcl.Expression, ctx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	rng := expr.Range()
	m.site = rng
	se, native := expr.(hclsyntax.Expression)
	if native {
		// An expression made of literals has the same value for every
		// task instance: it is evaluated once, and counted each time.
		if c, seen := m.consts[se]; seen && c != nil {
			m.chargeAt(c.steps, rng)
			return c.val, nil
		}
	}
	val, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return val, diags
	}
	steps, err := checkValue(val)
	m.chargeAt(steps, rng)
	if err != nil {
		return cty.DynamicVal, append(diags, limitDiag(err.summary, err.detail, rng.Ptr()))
	}
	if native && len(diags) == 0 {
		if _, seen := m.consts[se]; !seen {
			if m.consts == nil {
				m.consts = map[hclsyntax.Expression]*constValue{}
			}
			var c *constValue
			if isConstant(se) {
				c = &constValue{val: val, steps: steps}
			}
			m.consts[se] = c
		}
	}
	return val, diags
}
