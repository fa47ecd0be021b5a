package report

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/taskhost/taskhost/sdk/result"
)

// A Spool holds the top-level sections and steps that a Tree let go of
// (see Tree.Spill), in their order, so that a task of many steps does not
// keep them all in memory while it runs.
type Spool interface {
	// Add keeps n, which is done: it and everything under it ended.
	Add(n *Node) error
	// Len is how many nodes were added.
	Len() int
	// Each calls fn with each node, in the order added, until fn returns
	// an error. Each node is read anew: fn may keep it, or let it go.
	Each(fn func(*Node) error) error
}

// MemSpool is a Spool in memory: a tree that spills into it holds what
// it would have held, but decides as a tree that spills to a file does.
type MemSpool struct{ nodes []*Node }

// Add keeps n.
func (s *MemSpool) Add(n *Node) error { s.nodes = append(s.nodes, n); return nil }

// Len is how many nodes were added.
func (s *MemSpool) Len() int { return len(s.nodes) }

// Each calls fn with each node, in order.
func (s *MemSpool) Each(fn func(*Node) error) error {
	for _, n := range s.nodes {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// FileSpool is a Spool in a file, each node encoded with encoding/gob,
// which gives back the same times, texts and data. The file is made at
// the first Add (a spool never added to costs a few words), and removed
// by Remove.
type FileSpool struct {
	path string
	f    *os.File
	w    *bufio.Writer
	enc  *gob.Encoder
	n    int
	err  error
}

// NewFileSpool returns a spool that writes to the file path when first
// added to.
func NewFileSpool(path string) *FileSpool { return &FileSpool{path: path} }

// Add writes n to the file.
func (s *FileSpool) Add(n *Node) error {
	if s.err != nil {
		return s.err
	}
	if s.f == nil {
		if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			return s.err
		}
		f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			s.err = fmt.Errorf("spool: %w", err)
			return s.err
		}
		s.f, s.w = f, bufio.NewWriterSize(f, 64<<10)
		s.enc = gob.NewEncoder(s.w)
	}
	if err := s.enc.Encode(n); err != nil {
		s.err = fmt.Errorf("spool %s: %w", s.path, err)
		return s.err
	}
	s.n++
	return nil
}

// Len is how many nodes were added.
func (s *FileSpool) Len() int { return s.n }

// Each reads the nodes back from the file, in order. The first call ends
// the writing: nothing can be added after it.
func (s *FileSpool) Each(fn func(*Node) error) error {
	if s.f != nil {
		err := s.w.Flush()
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f, s.w, s.enc = nil, nil, nil
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("spool %s: %w", s.path, err)
		}
		if s.err == nil {
			s.err = errSpoolRead // no more Add
		}
	}
	if s.err != nil && s.err != errSpoolRead {
		return s.err
	}
	if s.n == 0 {
		return nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	dec := gob.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	for i := range s.n {
		var n Node
		if err := dec.Decode(&n); err != nil {
			return fmt.Errorf("spool %s: node %d of %d: %w", s.path, i+1, s.n, err)
		}
		if err := fn(&n); err != nil {
			return err
		}
	}
	return nil
}

var errSpoolRead = errors.New("spool: added to after it was read")

// Remove removes the spool's file, if it made one.
func (s *FileSpool) Remove() error {
	if s.f != nil {
		s.f.Close()
		s.f, s.w, s.enc = nil, nil, nil
	}
	s.err = errors.New("spool removed")
	err := os.Remove(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// All returns the nodes of spool (nil: none) followed by sections, read
// back into memory: for what needs a task's sections as one slice.
func All(spool Spool, sections []*Node) ([]*Node, error) {
	if spool == nil || spool.Len() == 0 {
		return sections, nil
	}
	all := make([]*Node, 0, spool.Len()+len(sections))
	err := spool.Each(func(n *Node) error { all = append(all, n); return nil })
	return append(all, sections...), err
}

// Each calls fn with each node of spool (nil: none), then each of
// sections: a task's top-level sections in their order.
func Each(spool Spool, sections []*Node, fn func(*Node) error) error {
	if spool != nil && spool.Len() > 0 {
		if err := spool.Each(fn); err != nil {
			return err
		}
	}
	for _, n := range sections {
		if err := fn(n); err != nil {
			return err
		}
	}
	return nil
}

// Len is how many top-level sections spool and sections hold together.
func Len(spool Spool, sections []*Node) int {
	if spool == nil {
		return len(sections)
	}
	return spool.Len() + len(sections)
}

// spill lets go of the tree's first top-level sections that are done,
// while it holds more than twice SpillKeep, down to SpillKeep: each goes
// to the spool, the ids of its subtree are forgotten, and what the tree
// needs of it later (its result, and the reason a Seal looks for) is kept.
func (t *Tree) spill() {
	if t.Spill == nil || t.spillErr != nil || len(t.Sections) <= 2*t.keep() {
		return
	}
	k := 0
	for len(t.Sections)-k > t.keep() {
		n := t.Sections[k]
		if !done(n) {
			break
		}
		if err := t.Spill.Add(n); err != nil {
			t.spillErr = err // what is left stays in memory; what went is kept
			break
		}
		t.spilled = append(t.spilled, n.Result.Value)
		if _, ok := t.reasons[n.Result.Value]; !ok {
			if why := FirstReason(n.Result.Value, []*Node{n}); why != "" {
				if t.reasons == nil {
					t.reasons = map[result.Result]string{}
				}
				t.reasons[n.Result.Value] = why
			}
		}
		t.forget(n)
		k++
	}
	if k > 0 {
		t.Sections = slices.Delete(t.Sections, 0, k)
		t.Sections = slices.Clip(t.Sections)
		if cap(t.Sections) > 4*len(t.Sections)+64 {
			t.Sections = slices.Clone(t.Sections)
		}
	}
}

// keep is how many top-level sections a spilling tree keeps at least.
func (t *Tree) keep() int {
	if t.SpillKeep > 0 {
		return t.SpillKeep
	}
	return DefaultSpillKeep
}

// DefaultSpillKeep is a spilling tree's SpillKeep when it sets none.
const DefaultSpillKeep = 4096

// done reports whether n and everything under it ended.
func done(n *Node) bool {
	if n.open {
		return false
	}
	for _, c := range n.Sections {
		if !done(c) {
			return false
		}
	}
	return true
}

// forget removes the ids of n's subtree from the tree's index.
func (t *Tree) forget(n *Node) {
	delete(t.nodes, n.ID)
	for _, c := range n.Sections {
		t.forget(c)
	}
}

// Taken is the tree's top-level sections for a record: a spool that
// holds the first of them (nil if it holds none, or is in memory) and
// the sections after those.
func (t *Tree) Taken() (Spool, []*Node) {
	if t.Spill == nil || t.Spill.Len() == 0 {
		return nil, t.Sections
	}
	if _, mem := t.Spill.(*MemSpool); mem {
		all, _ := All(t.Spill, t.Sections)
		return nil, all
	}
	return t.Spill, t.Sections
}

// Spilled is how many top-level sections the tree let go of (to Spill).
func (t *Tree) Spilled() int { return len(t.spilled) }

// SpilledResults are the results of the sections the tree let go of, in
// order.
func (t *Tree) SpilledResults() []result.Result { return t.spilled }

// FirstReason finds, depth first, the innermost reason of the first
// section or step whose result is r, as a line "ID NAME: REASON"; a node
// of another result is not looked into. "" if there is none.
func FirstReason(r result.Result, ns []*Node) string {
	var found string
	var walk func([]*Node) bool
	walk = func(ns []*Node) bool {
		for _, n := range ns {
			if n.Result.Value != r {
				continue
			}
			if walk(n.Sections) {
				return true
			}
			if n.Result.Reason != "" {
				found = n.ID + " " + n.Name + ": " + n.Result.Reason
				return true
			}
		}
		return false
	}
	walk(ns)
	return found
}

// Reason is FirstReason over the whole tree, the sections it let go of
// first.
func (t *Tree) Reason(r result.Result) string {
	if why, ok := t.reasons[r]; ok {
		return why
	}
	return FirstReason(r, t.Sections)
}
