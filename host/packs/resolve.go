package packs

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
)

// Resolve finds the binary of each pack of the job that is in
// required_packs, and checks every pack against the lock file beside the
// jobfile, setting Pack.Path and Pack.SHA256. Every problem is a
// diagnostic on the pack: a required pack that is not locked or not
// installed, a lock that the jobfile's constraint no longer allows, and a
// binary whose SHA-256 is not the locked one (naming both hashes).
//
// Without a lock file, packs given by path run unpinned; once there is
// one, every pack must be in it.
func Resolve(job *jobfile.Job, d Dir) hcl.Diagnostics {
	d = d.ForJob(job.File)
	lockPath := LockPath(job.File)
	lock, diags := ReadLock(lockPath)
	if diags.HasErrors() {
		return diags
	}
	for _, p := range job.Packs {
		diags = append(diags, resolvePack(job, p, d, lock, lockPath)...)
	}
	return diags
}

func resolvePack(job *jobfile.Job, p *jobfile.Pack, d Dir, lock *Lock, lockPath string) hcl.Diagnostics {
	errDiag := func(summary, detail string, subject hcl.Range) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject.Ptr()}}
	}
	e := lock.Pack(p.Name)
	rp := p.Required
	if e == nil {
		switch {
		case rp == nil && lock == nil:
			return nil // a pack by path, and nothing is locked
		case lock == nil:
			return errDiag("Packs not locked",
				fmt.Sprintf("The pack %q is required from the packs directory, and there is no %s beside the jobfile to say which version and binary to run. Run `taskhost packs lock %s`.", p.Name, LockFileName, filepath.Base(job.File)),
				p.DeclRange)
		default:
			return errDiag("Pack not locked",
				fmt.Sprintf("The pack %q is not in %s. Run `taskhost packs lock %s` to add it.", p.Name, lockPath, filepath.Base(job.File)),
				p.DeclRange)
		}
	}
	if e.Platform != Platform() {
		return errDiag("Pack locked for another platform",
			fmt.Sprintf("%s locks the pack %q for %s, and this host is %s. Run `taskhost packs lock %s` here.", lockPath, p.Name, e.Platform, Platform(), filepath.Base(job.File)),
			p.DeclRange)
	}
	if rp != nil {
		v, err := version.NewSemver(e.Version)
		if err != nil {
			return errDiag("Bad version in the lock file", fmt.Sprintf("%s locks the pack %q to %q: %v.", lockPath, p.Name, e.Version, err), e.DeclRange)
		}
		if !rp.Constraints.Check(v) {
			return errDiag("Locked version not allowed",
				fmt.Sprintf("%s locks the pack %q to %s, which the jobfile's constraint %q does not allow. Run `taskhost packs lock %s` to choose another.", lockPath, p.Name, e.Version, rp.Version, filepath.Base(job.File)),
				rp.VersionRange)
		}
		in, err := d.Find(p.Name, e.Version)
		if err != nil {
			return errDiag("Locked pack not installed",
				fmt.Sprintf("The lock pins the pack %q to %s, which is not installed (%v). Install it with `taskhost packs install SOURCE`; %s.", p.Name, e.Version, err, d.Where()),
				p.DeclRange)
		}
		p.Path = in.Path
	}
	want, err := hex.DecodeString(e.SHA256)
	if err != nil || len(want) != 32 {
		return errDiag("Bad hash in the lock file", fmt.Sprintf("%s gives the pack %q the SHA-256 %q, which is not 64 hex digits.", lockPath, p.Name, e.SHA256), e.DeclRange)
	}
	got, err := launch.FileSHA256(p.Path)
	if err != nil {
		return errDiag("Pack binary cannot be read", fmt.Sprintf("The pack %q: %v.", p.Name, err), p.DeclRange)
	}
	if !bytes.Equal(got, want) {
		return errDiag("Pack binary does not match the lock",
			fmt.Sprintf("The pack %q (%s) has SHA-256 %x, but %s pins %s %s with SHA-256 %x. The binary changed since it was locked: reinstall the pinned release, or run `taskhost packs lock %s` if the change is meant.", p.Name, p.Path, got, lockPath, p.Name, e.Version, want, filepath.Base(job.File)),
			p.DeclRange)
	}
	p.SHA256 = want
	return nil
}

// LockChange is what MakeLock did to one pack.
type LockChange struct {
	Name, Version, SHA256 string
	// Was is the version locked before, or "" for a pack new to the lock.
	Was string
}

// MakeLock pins every pack of the job: a required pack to the version
// already locked if the constraint still allows it and it is installed
// (unless upgrade), else to the newest installed version that the
// constraint allows; a pack given by path to its binary as it is. Entries
// of other packs in old (other jobfiles beside this one) are kept.
func MakeLock(ctx context.Context, job *jobfile.Job, d Dir, old *Lock, upgrade bool) (*Lock, []LockChange, error) {
	d = d.ForJob(job.File)
	lock := &Lock{}
	if old != nil {
		lock.Packs = append(lock.Packs, old.Packs...)
	}
	var changes []LockChange
	for _, p := range job.Packs {
		prev := old.Pack(p.Name)
		e := &Locked{Name: p.Name, Platform: Platform()}
		if rp := p.Required; rp != nil {
			var in *Installed
			if prev != nil && !upgrade && prev.Platform == Platform() {
				if v, err := version.NewSemver(prev.Version); err == nil && rp.Constraints.Check(v) {
					in, _ = d.Find(p.Name, prev.Version)
				}
			}
			if in == nil {
				var err error
				if in, err = d.Newest(p.Name, rp.Constraints); err != nil {
					return nil, nil, fmt.Errorf("pack %q: %w; %s", p.Name, err, d.Where())
				}
			}
			sum, err := launch.HexSHA256(in.Path)
			if err != nil {
				return nil, nil, err
			}
			if sum != in.SHA256 {
				return nil, nil, fmt.Errorf("pack %q: %s has SHA-256 %s, but it was installed with %s: the packs directory was changed by hand; reinstall the pack", p.Name, in.Path, sum, in.SHA256)
			}
			e.Version, e.Constraints, e.SHA256 = in.Version, rp.Version, in.SHA256
		} else {
			sum, err := launch.FileSHA256(p.Path)
			if err != nil {
				return nil, nil, fmt.Errorf("pack %q: %w", p.Name, err)
			}
			desc, err := launch.Describe(ctx, launch.Config{Path: p.Path, SHA256: sum})
			if err != nil {
				return nil, nil, fmt.Errorf("pack %q: %w", p.Name, err)
			}
			rel, err := filepath.Rel(filepath.Dir(job.File), p.Path)
			if err != nil {
				rel = p.Path
			}
			e.Version, e.Path, e.SHA256 = desc.Version, filepath.ToSlash(rel), hex.EncodeToString(sum)
		}
		c := LockChange{Name: e.Name, Version: e.Version, SHA256: e.SHA256}
		if prev != nil {
			c.Was = prev.Version
		}
		changes = append(changes, c)
		lock.Set(e)
	}
	return lock, changes, nil
}
