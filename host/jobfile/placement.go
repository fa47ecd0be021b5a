package jobfile

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Placement says where a task may run. The zero value is the default: the
// host runs the task itself.
type Placement struct {
	// Remote is false for a task the host runs (the default, and
	// local = true), true for one that only an agent carrying Labels may
	// run.
	Remote bool

	// Labels are what an agent must carry to run the task, key to value:
	// nil for a local task; empty for a remote task that any agent may
	// run.
	Labels map[string]string

	// DeclRange is the range of the header of the placement block that
	// decided, in the task block or, for the job's default, in the job
	// block; the zero Range when neither has one.
	DeclRange hcl.Range
}

// Class is the canonical form of a placement's labels: the tasks of one
// class can run on the same agents.
func (p Placement) Class() Class { return ClassOf(p.Labels) }

// Class is a set of labels in canonical form.
type Class struct {
	// Key is the labels as "key=value" lines, sorted, each ending in a
	// newline; "" for no labels.
	Key string

	// ID is the first 16 hexadecimal digits (lower case) of the SHA-256
	// of Key.
	ID string
}

// ClassOf returns the class of labels. It does not check them: labels
// that passed the jobfile's rules (MaxLabels, MaxLabelBytes, the label
// characters) hold no '=' or newline, so the key of each set is distinct.
func ClassOf(labels map[string]string) Class {
	lines := make([]string, 0, len(labels))
	for k, v := range labels {
		lines = append(lines, k+"="+v+"\n")
	}
	sort.Strings(lines)
	key := strings.Join(lines, "")
	sum := sha256.Sum256([]byte(key))
	return Class{Key: key, ID: hex.EncodeToString(sum[:8])}
}

const (
	// MaxLabels is the most labels a placement may require.
	MaxLabels = 16

	// MaxLabelBytes is the longest label key or value.
	MaxLabelBytes = 63
)

// validLabel matches a label key or value: lower-case letters, digits,
// '_', '.' and '-', starting with a letter or digit. '=' and ',' are left
// out because they separate labels on an agent's command line and in a
// class's key.
var validLabel = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

var placementSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "labels"},
		{Name: "local"},
	},
}

// decodePlacementBlocks decodes the placement block among blocks, if
// there is one; the bool is false when there is none.
func (l *loader) decodePlacementBlocks(blocks hcl.Blocks) (Placement, bool, hcl.Diagnostics) {
	blocks = blocks.OfType("placement")
	if len(blocks) == 0 {
		return Placement{}, false, nil
	}
	var diags hcl.Diagnostics
	for _, b := range blocks[1:] {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate placement block",
			Detail:   fmt.Sprintf("A block has at most one placement block; the first is at %s.", blocks[0].DefRange),
			Subject:  b.DefRange.Ptr(),
		})
	}
	p, moreDiags := l.decodePlacement(blocks[0])
	return p, true, append(diags, moreDiags...)
}

// decodePlacement decodes one placement block: labels = { KEY = "VALUE" }
// for the agents that may run the task, or local = true.
func (l *loader) decodePlacement(block *hcl.Block) (Placement, hcl.Diagnostics) {
	p := Placement{DeclRange: block.DefRange}
	content, diags := block.Body.Content(placementSchema)
	if diags.HasErrors() {
		return p, diags
	}
	labelsAttr, hasLabels := content.Attributes["labels"]
	local := false
	if attr, ok := content.Attributes["local"]; ok {
		val, ok, moreDiags := l.evalValue(attr, cty.Bool)
		diags = append(diags, moreDiags...)
		if !ok {
			return p, diags
		}
		local = val.True()
		if local && hasLabels {
			return p, append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Conflicting placement",
				Detail:   "A placement block has labels, for the agents that may run the task, or local = true, to run it on the host; not both.",
				Subject:  labelsAttr.NameRange.Ptr(),
			})
		}
	}
	switch {
	case local:
		return p, diags
	case !hasLabels:
		return p, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing labels",
			Detail:   `A placement block gives labels = { KEY = "VALUE" }, which the agents that may run the task must carry, or local = true, to run it on the host.`,
			Subject:  block.DefRange.Ptr(),
		})
	}
	p.Remote = true
	p.Labels, diags = l.decodeLabels(labelsAttr, diags)
	return p, diags
}

// decodeLabels evaluates the labels attribute to a map of string to
// string and checks every key and value. An object written in place gives
// each label the range of its own key and value.
func (l *loader) decodeLabels(attr *hcl.Attribute, diags hcl.Diagnostics) (map[string]string, hcl.Diagnostics) {
	labels := map[string]string{}
	pairs, mapDiags := hcl.ExprMap(attr.Expr)
	if mapDiags.HasErrors() {
		val, ok, moreDiags := l.evalValue(attr, cty.Map(cty.String))
		diags = append(diags, moreDiags...)
		if !ok {
			return labels, diags
		}
		rng := attr.Expr.Range()
		for it := val.ElementIterator(); it.Next(); {
			k, v := it.Element()
			diags = append(diags, checkLabel(k.AsString(), v.AsString(), rng, rng)...)
			labels[k.AsString()] = v.AsString()
		}
		return labels, append(diags, checkLabelCount(len(labels), rng)...)
	}
	keyRanges := map[string]hcl.Range{}
	for _, pair := range pairs {
		keyVal, moreDiags := l.meter.value(pair.Key, l.ctx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			continue
		}
		if !keyVal.IsKnown() {
			if l.varsOK {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid label",
					Detail:   "A label's key must be known when the jobfile is loaded.",
					Subject:  pair.Key.Range().Ptr(),
				})
			}
			continue
		}
		if keyVal.IsMarked() || keyVal.IsNull() || !keyVal.Type().Equals(cty.String) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid label",
				Detail:   "A label's key must be a string, not sensitive.",
				Subject:  pair.Key.Range().Ptr(),
			})
			continue
		}
		key := keyVal.AsString()
		if prev, dup := keyRanges[key]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate label",
				Detail:   fmt.Sprintf("The label %q was already set at %s.", key, prev),
				Subject:  pair.Key.Range().Ptr(),
			})
			continue
		}
		keyRanges[key] = pair.Key.Range()
		val, ok, moreDiags := l.evalValue(&hcl.Attribute{Name: "labels." + key, Expr: pair.Value}, cty.String)
		diags = append(diags, moreDiags...)
		if !ok {
			continue
		}
		diags = append(diags, checkLabel(key, val.AsString(), pair.Key.Range(), pair.Value.Range())...)
		labels[key] = val.AsString()
	}
	return labels, append(diags, checkLabelCount(len(keyRanges), attr.Expr.Range())...)
}

// checkLabel checks a label's key (at keyRange) and value (at valRange).
func checkLabel(key, val string, keyRange, valRange hcl.Range) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, s := range []struct {
		what, text string
		rng        hcl.Range
	}{{"key", key, keyRange}, {"value", val, valRange}} {
		why := ""
		switch {
		case s.text == "":
			why = "it is empty"
		case len(s.text) > MaxLabelBytes:
			why = fmt.Sprintf("it is %d bytes long, over %d", len(s.text), MaxLabelBytes)
		case !validLabel.MatchString(s.text):
			why = labelFault(s.text)
		default:
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid label",
			Detail: fmt.Sprintf("The label %s %q is not valid: %s. Label keys and values are 1 to %d lower-case letters, digits, '_', '.' and '-', starting with a letter or digit.",
				s.what, truncateLabel(s.text), why, MaxLabelBytes),
			Subject: s.rng.Ptr(),
		})
	}
	return diags
}

// labelFault says what is wrong with s, which validLabel does not match.
func labelFault(s string) string {
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			return fmt.Sprintf("it holds the upper-case letter %q (labels are lower case)", r)
		case !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'):
			return fmt.Sprintf("it holds %q", r)
		}
	}
	return fmt.Sprintf("it starts with %q", s[0])
}

// truncateLabel shortens a label quoted in a diagnostic.
func truncateLabel(s string) string {
	if len(s) <= 2*MaxLabelBytes {
		return s
	}
	return s[:2*MaxLabelBytes] + "…"
}

func checkLabelCount(n int, rng hcl.Range) hcl.Diagnostics {
	if n <= MaxLabels {
		return nil
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Too many labels",
		Detail:   fmt.Sprintf("A placement requires at most %d labels, not %d.", MaxLabels, n),
		Subject:  rng.Ptr(),
	}}
}
