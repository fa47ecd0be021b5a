package jobfile

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// RequiredPack is one entry of a required_packs block: a pack installed in
// the packs directory (see `taskhost packs install`), with the versions the
// job accepts.
//
//	required_packs {
//	  net = { version = ">= 1.2, < 2.0" }
//	}
//
// The entry's name is the name the pack gives itself. Tasks name it as they
// name a pack block; a pack block of the same name without a path sets its
// other options (max_parallel).
type RequiredPack struct {
	// Name is the installed pack's name.
	Name string

	// Version is the version constraint as written, such as ">= 1.2, < 2.0".
	Version string

	// Constraints is Version parsed.
	Constraints version.Constraints

	// DeclRange is the range of the entry's name.
	DeclRange hcl.Range

	// VersionRange is the range of the version value.
	VersionRange hcl.Range
}

// validPackName matches the names of installed packs: they name
// directories of the packs directory.
var validPackName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// ValidPackName reports whether name may be an installed pack's name.
func ValidPackName(name string) bool { return validPackName.MatchString(name) }

// decodeRequiredPacks reads a required_packs block into job.RequiredPacks.
func (l *loader) decodeRequiredPacks(block *hcl.Block, job *Job) hcl.Diagnostics {
	attrs, diags := block.Body.JustAttributes()
	for _, attr := range sortedAttrs(attrs) {
		if prev := job.requiredPack(attr.Name); prev != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate required pack",
				Detail:   fmt.Sprintf("The pack %q is already required at %s.", attr.Name, prev.DeclRange),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		if !validPackName.MatchString(attr.Name) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid pack name",
				Detail:   fmt.Sprintf("%q is not a pack name: it must start with a letter or digit and hold only letters, digits, '.', '_' and '-'.", attr.Name),
				Subject:  attr.NameRange.Ptr(),
			})
			continue
		}
		rp := &RequiredPack{Name: attr.Name, DeclRange: attr.NameRange}
		moreDiags := l.decodeRequirement(attr, rp)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			job.RequiredPacks = append(job.RequiredPacks, rp)
		}
	}
	return diags
}

// decodeRequirement reads `{ version = "…" }`.
func (l *loader) decodeRequirement(attr *hcl.Attribute, rp *RequiredPack) hcl.Diagnostics {
	pairs, diags := hcl.ExprMap(attr.Expr)
	if diags.HasErrors() {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid required pack",
			Detail:   fmt.Sprintf(`A required pack is an object like %s = { version = ">= 1.2, < 2.0" }.`, attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	diags = nil
	found := false
	for _, pair := range pairs {
		key := hcl.ExprAsKeyword(pair.Key)
		if key == "" {
			if v, kd := l.literalValue(pair.Key); !kd.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
				key = v.AsString()
			}
		}
		if key != "version" {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unsupported argument",
				Detail:   fmt.Sprintf("A required pack takes only version, not %q.", key),
				Subject:  pair.Key.Range().Ptr(),
			})
			continue
		}
		found = true
		rp.VersionRange = pair.Value.Range()
		v, vd := l.meter.value(pair.Value, l.ctx)
		diags = append(diags, vd...)
		if vd.HasErrors() || !v.IsKnown() {
			continue
		}
		if v.IsNull() || v.Type() != cty.String {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid version constraint",
				Detail:   `The version is a string of constraints, like ">= 1.2, < 2.0" or "~> 1.4".`,
				Subject:  pair.Value.Range().Ptr(),
			})
			continue
		}
		rp.Version = v.AsString()
		c, err := version.NewConstraint(rp.Version)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid version constraint",
				Detail:   fmt.Sprintf(`%q is not a version constraint: %v. Write constraints such as ">= 1.2, < 2.0", "= 1.4.2" or "~> 1.4", separated by commas.`, rp.Version, err),
				Subject:  pair.Value.Range().Ptr(),
			})
			continue
		}
		rp.Constraints = c
	}
	if !found && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing version",
			Detail:   fmt.Sprintf(`The required pack %q needs a version constraint, like %s = { version = ">= 1.2, < 2.0" }.`, attr.Name, attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		})
	}
	return diags
}

// linkRequiredPacks joins pack blocks and required_packs entries: a pack
// block without a path is the installed pack of the same name, and an
// entry without a pack block declares that pack with default options.
func (l *loader) linkRequiredPacks(job *Job) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, p := range job.Packs {
		rp := job.requiredPack(p.Name)
		switch {
		case l.withPath[p.Name] && rp != nil:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Pack both installed and given by path",
				Detail:   fmt.Sprintf("The pack %q is in required_packs (at %s) and its pack block gives a path: remove the path to use the installed pack, or the required_packs entry to use the binary at the path.", p.Name, rp.DeclRange),
				Subject:  p.DeclRange.Ptr(),
			})
		case !l.withPath[p.Name] && rp == nil:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Pack without a path",
				Detail:   fmt.Sprintf(`The pack %q has no path and is not in required_packs: give the binary with path = "…", or require an installed pack with required_packs { %s = { version = "…" } }.`, p.Name, p.Name),
				Subject:  p.DeclRange.Ptr(),
			})
		case rp != nil:
			p.Required = rp
		}
	}
	for _, rp := range job.RequiredPacks {
		if job.Pack(rp.Name) == nil {
			job.Packs = append(job.Packs, &Pack{Name: rp.Name, Required: rp, DeclRange: rp.DeclRange})
		}
	}
	return diags
}

func (l *loader) packWithPath(name string) {
	if l.withPath == nil {
		l.withPath = map[string]bool{}
	}
	l.withPath[name] = true
}

func (j *Job) requiredPack(name string) *RequiredPack {
	for _, rp := range j.RequiredPacks {
		if rp.Name == name {
			return rp
		}
	}
	return nil
}

// sortedAttrs returns attrs in file order.
func sortedAttrs(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *hcl.Attribute) int { return a.Range.Start.Byte - b.Range.Start.Byte })
	return out
}
