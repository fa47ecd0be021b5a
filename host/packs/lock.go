package packs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

// LockFileName is the lock file's name; it lives beside the jobfile.
const LockFileName = "taskhost.lock.hcl"

// LockPath is the lock file of the jobfile at jobFile.
func LockPath(jobFile string) string {
	return filepath.Join(filepath.Dir(jobFile), LockFileName)
}

// Lock is a lock file: what each pack of the jobfiles beside it was
// pinned to.
type Lock struct {
	Packs []*Locked `hcl:"pack,block"`
}

// Locked is one pack of a lock file.
type Locked struct {
	Name string `hcl:"name,label"`
	// Version is the version the pack described itself with.
	Version string `hcl:"version"`
	// Constraints is the jobfile's version constraint when it was locked
	// (installed packs only).
	Constraints string `hcl:"constraints,optional"`
	// Path is the binary's path relative to the lock file (packs given by
	// path only).
	Path string `hcl:"path,optional"`
	// Platform is the os_arch the hash is for.
	Platform string `hcl:"platform"`
	// SHA256 is the binary's SHA-256 in hex.
	SHA256 string `hcl:"sha256"`

	DeclRange hcl.Range
}

// Pack returns the entry for name, or nil.
func (l *Lock) Pack(name string) *Locked {
	if l == nil {
		return nil
	}
	for _, p := range l.Packs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Set adds or replaces an entry.
func (l *Lock) Set(e *Locked) {
	for i, p := range l.Packs {
		if p.Name == e.Name {
			l.Packs[i] = e
			return
		}
	}
	l.Packs = append(l.Packs, e)
}

// ReadLock reads the lock file at path; a file that does not exist is a
// nil Lock and no error.
func ReadLock(path string) (*Lock, hcl.Diagnostics) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	// Within the jobfile loader's limits: a regular file, not too large,
	// not nested too deeply for HCL's parser.
	src, diags := jobfile.ReadSource(path)
	if diags.HasErrors() {
		return nil, diags
	}
	file, diags := hclparse.NewParser().ParseHCL(src, path)
	if diags.HasErrors() {
		return nil, diags
	}
	l := &Lock{}
	diags = gohcl.DecodeBody(file.Body, nil, l)
	if diags.HasErrors() {
		return nil, diags
	}
	content, _, _ := file.Body.PartialContent(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "pack", LabelNames: []string{"name"}}}})
	for i, b := range content.Blocks {
		if i < len(l.Packs) {
			l.Packs[i].DeclRange = b.DefRange
		}
	}
	for i, p := range l.Packs {
		if j := slices.IndexFunc(l.Packs[:i], func(q *Locked) bool { return q.Name == p.Name }); j >= 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate pack in the lock file",
				Detail:   fmt.Sprintf("The pack %q is locked twice; run `taskhost packs lock` again.", p.Name),
				Subject:  p.DeclRange.Ptr(),
			})
		}
	}
	return l, diags
}

const lockHeader = `# This file is written by "taskhost packs lock". It pins each pack that
# the jobfiles in this directory use to a version and the SHA-256 of its
# binary; "taskhost run" refuses a binary that does not match. Commit it.
`

// Write writes the lock file to path, packs sorted by name.
func (l *Lock) Write(path string) error {
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	packs := slices.Clone(l.Packs)
	slices.SortFunc(packs, func(a, b *Locked) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for i, p := range packs {
		if i > 0 {
			body.AppendNewline()
		}
		b := body.AppendNewBlock("pack", []string{p.Name}).Body()
		b.SetAttributeValue("version", cty.StringVal(p.Version))
		if p.Constraints != "" {
			b.SetAttributeValue("constraints", cty.StringVal(p.Constraints))
		}
		if p.Path != "" {
			b.SetAttributeValue("path", cty.StringVal(p.Path))
		}
		b.SetAttributeValue("platform", cty.StringVal(p.Platform))
		b.SetAttributeValue("sha256", cty.StringVal(p.SHA256))
	}
	var buf bytes.Buffer
	buf.WriteString(lockHeader)
	buf.WriteString("\n")
	buf.Write(f.Bytes())
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
