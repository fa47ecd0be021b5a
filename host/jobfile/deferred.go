package jobfile

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// refScope resolves task.ID references when deferred args are evaluated,
// and meters the evaluation as the load's was.
type refScope struct {
	bases map[string]*taskBlock
	meter *meter
}

// ErrOutputMissing is wrapped by EvalDeferred's error when a task did not
// set an output that the args use.
var ErrOutputMissing = fmt.Errorf("output not set")

// EvalDeferred evaluates the task's Deferred args, now that the tasks they
// read have ended. outputs returns the outputs a task set, by task id. It
// returns the values, or an error saying which output is missing or what
// else went wrong; the error is the reason the task does not start. The
// evaluation is held to the limits of a load (see MaxWork), and calls on
// the tasks of one job take turns.
func (t *Task) EvalDeferred(outputs func(id string) map[string]cty.Value) (map[string]cty.Value, error) {
	if len(t.Deferred) == 0 {
		return nil, nil
	}
	m := t.scope.meter
	m.mu.Lock()
	defer m.mu.Unlock()
	var out map[string]cty.Value
	var err error
	if stop := m.run(func() { out, err = t.evalDeferred(outputs) }); stop != nil {
		where := ""
		if stop.Subject != nil {
			where = " (" + rangeString(*stop.Subject) + ")"
		}
		return nil, fmt.Errorf("%s%s: %s", strings.ToLower(stop.Summary), where, strings.TrimSuffix(stop.Detail, "."))
	}
	return out, err
}

func (t *Task) evalDeferred(outputs func(id string) map[string]cty.Value) (map[string]cty.Value, error) {
	for _, ref := range t.OutputRefs {
		if ref.Name == "" || len(ref.Tasks) != 1 {
			continue
		}
		if _, ok := outputs(ref.Tasks[0])[ref.Name]; !ok {
			return nil, fmt.Errorf("task %s did not set the output %q that %s reads: %w", ref.Tasks[0], ref.Name, rangeString(ref.Range), ErrOutputMissing)
		}
	}
	objs := map[string]cty.Value{}
	for _, ref := range t.OutputRefs {
		for _, id := range ref.Tasks {
			base, _, _ := strings.Cut(id, "[")
			if _, done := objs[base]; done {
				continue
			}
			tb := t.scope.bases[base]
			if tb == nil {
				continue
			}
			objs[base] = taskObject(tb, func(id string) cty.Value {
				out := outputs(id)
				if len(out) == 0 {
					return cty.EmptyObjectVal
				}
				return cty.ObjectVal(out)
			})
		}
	}
	// Tasks referred to only by id (task.x.id) need their object too.
	for _, expr := range t.Deferred {
		for _, tr := range expr.Variables() {
			if tr.RootName() != "task" || len(tr) < 2 {
				continue
			}
			if a, ok := tr[1].(hcl.TraverseAttr); ok {
				if _, done := objs[a.Name]; !done {
					if tb := t.scope.bases[a.Name]; tb != nil {
						objs[a.Name] = taskObject(tb, func(string) cty.Value { return cty.EmptyObjectVal })
					}
				}
			}
		}
	}
	ctx := t.ctx.NewChild()
	ctx.Variables = map[string]cty.Value{"task": cty.ObjectVal(objs)}

	out := make(map[string]cty.Value, len(t.Deferred))
	t.sensitive = nil
	names := sortedKeys(t.Deferred)
	for _, name := range names {
		expr := t.Deferred[name]
		v, diags := t.scope.meter.value(expr, ctx)
		if diags.HasErrors() {
			rewriteLimitDiags(diags)
			d := diags.Errs()[0].(*hcl.Diagnostic)
			return nil, fmt.Errorf("argument %q (%s): %s: %s", name, rangeString(expr.Range()), d.Summary, strings.TrimSuffix(d.Detail, "."))
		}
		if !v.IsWhollyKnown() {
			return nil, fmt.Errorf("argument %q (%s) is not known", name, rangeString(expr.Range()))
		}
		t.sensitive = append(t.sensitive, sensitiveTexts(v)...)
		out[name], _ = v.UnmarkDeep()
	}
	return out, nil
}

func rangeString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d,%d", shortFile(r.Filename), r.Start.Line, r.Start.Column)
}

func shortFile(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// Redacted is what a sensitive value is replaced with.
const Redacted = "(sensitive)"

// RedactedSource returns Source with the default value of every sensitive
// variable replaced by "(sensitive)": what may be copied into a run
// directory.
func (j *Job) RedactedSource() []byte {
	if len(j.redact) == 0 {
		return j.Source
	}
	rs := append([]hcl.Range(nil), j.redact...)
	sort.Slice(rs, func(a, b int) bool { return rs[a].Start.Byte > rs[b].Start.Byte })
	out := append([]byte(nil), j.Source...)
	for _, r := range rs {
		if r.End.Byte > len(out) || r.Start.Byte > r.End.Byte {
			continue
		}
		out = append(out[:r.Start.Byte], append([]byte(`"`+Redacted+`"`), out[r.End.Byte:]...)...)
	}
	return out
}

// RedactArgs returns a command line with the value of every -var for a
// sensitive variable replaced by "(sensitive)".
func (j *Job) RedactArgs(args []string) []string {
	out := append([]string(nil), args...)
	redact := func(kv string) string {
		name, _, ok := strings.Cut(kv, "=")
		if ok && j.Sensitive[name] {
			return name + "=" + Redacted
		}
		return kv
	}
	for i := 0; i < len(out); i++ {
		a := out[i]
		switch {
		case (a == "-var" || a == "--var") && i+1 < len(out):
			out[i+1] = redact(out[i+1])
			i++
		case strings.HasPrefix(a, "-var="):
			out[i] = "-var=" + redact(strings.TrimPrefix(a, "-var="))
		case strings.HasPrefix(a, "--var="):
			out[i] = "--var=" + redact(strings.TrimPrefix(a, "--var="))
		}
	}
	return out
}
