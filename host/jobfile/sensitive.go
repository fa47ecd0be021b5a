package jobfile

import (
	"slices"

	"github.com/zclconf/go-cty/cty"
)

// SensitiveValues returns, as text, every value that a run of the job
// must not show: each string and number in the value of a sensitive
// variable, and each one in the tasks' and hooks' args that was computed
// from a sensitive value ("${var.password}x", strrev(var.password),
// a local using it). Numbers are written as in the args' JSON; true and
// false are left out. The values of args that use other tasks' outputs
// are known only when the task starts: see Task.SensitiveValues.
func (j *Job) SensitiveValues() []string {
	var out []string
	for name := range j.Sensitive {
		out = appendTexts(out, j.Variables[name])
	}
	for _, s := range j.sensitive {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ShortSensitive returns the names of the sensitive variables whose value
// holds a string or number shorter than n bytes, sorted.
func (j *Job) ShortSensitive(n int) []string {
	var out []string
	for name := range j.Sensitive {
		for _, s := range appendTexts(nil, j.Variables[name]) {
			if len(s) < n {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// SensitiveValues returns the values computed from sensitive values in
// the args that the last EvalDeferred evaluated, as Job.SensitiveValues
// does for the others.
func (t *Task) SensitiveValues() []string { return t.sensitive }

// sensitiveTexts returns the text of each part of v that carries the
// sensitive mark.
func sensitiveTexts(v cty.Value) []string {
	if !v.ContainsMarked() {
		return nil
	}
	plain, marked := v.UnmarkDeepWithPaths()
	var out []string
	for _, pm := range marked {
		if !pm.Marks.Has(sensitiveMark) {
			continue
		}
		part, err := pm.Path.Apply(plain)
		if err != nil {
			part = plain // cannot tell which part: all of it
		}
		out = appendTexts(out, part)
	}
	return out
}

// noteSensitive remembers the sensitive parts of v, a value about to be
// stripped of its marks.
func (l *loader) noteSensitive(v cty.Value) {
	l.sensitive = append(l.sensitive, sensitiveTexts(v)...)
}

// appendTexts appends each string and number in v, as text.
func appendTexts(out []string, v cty.Value) []string {
	v, _ = v.UnmarkDeep()
	if v.IsNull() || !v.IsKnown() {
		return out
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return append(out, v.AsString())
	case ty == cty.Number:
		return append(out, v.AsBigFloat().Text('f', -1))
	case ty.IsCollectionType() || ty.IsObjectType() || ty.IsTupleType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = appendTexts(out, e)
		}
	}
	return out
}
