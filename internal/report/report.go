package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/taskhost/taskhost/sdk/result"
)

// Event kinds.
const (
	// KindStart opens a section or step.
	KindStart = "start"
	// KindEnd closes a section or step, or the task itself when ID is "".
	KindEnd = "end"
	// KindLog says that a process of the task (PID) made a log file
	// (Name, relative to the run directory) while step Parent ran.
	KindLog = "log"
)

// Node types.
const (
	TypeSection = "section"
	TypeStep    = "step"
)

// Event is one result event of one task, as published on the hub. Each
// process of the task (the task process, and each child it starts that
// uses the SDK) is a source, named by Src ("" for the task process); Seq
// numbers a source's events from 1 without gaps, and the tree applies each
// once, in order.
type Event struct {
	Src    string          `json:"src,omitempty"`
	Seq    uint64          `json:"seq"`
	Kind   string          `json:"kind"`
	ID     string          `json:"id,omitempty"`
	Parent string          `json:"parent,omitempty"`
	Name   string          `json:"name,omitempty"`
	Type   string          `json:"type,omitempty"`
	Result result.Result   `json:"result,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Time   time.Time       `json:"time"`
	PID    int             `json:"pid,omitempty"`
	// Logs, on an end event, says where the step's log lines are.
	Logs *LogRef `json:"logs,omitempty"`
}

// LogRef locates a step's log lines: File (relative to the run directory)
// from byte Begin, Size bytes long. Lines of other processes that write to
// the same file at the same time may be inside the range.
type LogRef struct {
	File  string `json:"file"`
	Begin int64  `json:"begin"`
	Size  int64  `json:"size"`
}

// Outcome is a result with its reason and data.
type Outcome struct {
	Value  result.Result   `json:"value"`
	Reason string          `json:"reason,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// Node is a section or step in the result tree.
type Node struct {
	Type      string    `json:"type"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Result    Outcome   `json:"result"`
	StartTime time.Time `json:"starttime"`
	StopTime  time.Time `json:"stoptime,omitzero"`
	Runtime   float64   `json:"runtime"`
	PID       int       `json:"pid,omitempty"`
	Logs      *LogRef   `json:"logs,omitempty"`
	Sections  []*Node   `json:"sections,omitempty"`

	open bool
}

// Tree is the result tree of one task. It is not safe for concurrent use.
type Tree struct {
	// Sections are the task's top-level sections and steps.
	Sections []*Node
	// Own is the result the task set on itself (t.Failf outside any step),
	// and Ended tells whether the task's end event arrived.
	Own   Outcome
	Ended bool
	// Logs lists the log files that the task's child processes made.
	Logs []string
	// Last is the time of the latest event applied.
	Last time.Time
	// OnApply, if set, is called with each event as it is applied: once,
	// in its source's order.
	OnApply func(Event)

	// Refused counts what the task sent that the tree did not take (an
	// event that makes no sense, or that the host refused before it got
	// here: see Refuse), and Problems says why, for the first
	// MaxProblems of them.
	Refused  int
	Problems []string
	// Over, when set, says which of its limits the task went over; the
	// host took nothing more from it.
	Over string
	// Missing counts the events that Settle found missing: never sent,
	// or lost with the process.
	Missing int

	// Spill, if set, takes the top-level sections that are done (they and
	// everything under them ended) once the tree holds more than twice
	// SpillKeep (DefaultSpillKeep if 0) of them, the oldest first, down to
	// SpillKeep: the tree then lets them go, and forgets their ids, so
	// that an event naming one of them later is refused (a step started
	// under it, its end) or taken as new (a step of the same id). Sections
	// then holds only those it kept; the spool holds the others, before
	// them. A spool that fails to take one is let go of, and the tree
	// keeps the rest.
	Spill     Spool
	SpillKeep int
	// spilled are the results of the sections spilled, in order; reasons
	// the first reason of each result found in them (see Reason).
	spilled  []result.Result
	reasons  map[result.Result]string
	spillErr error

	nodes   map[string]*Node
	sources map[string]*source
	// parked holds, by the id of the step they wait for, the sources
	// whose next event starts a step under it (a child process's first
	// step can arrive before its parent's start, which another process
	// sent).
	parked map[string][]string
}

// MaxProblems is how many reasons for refusals a tree keeps.
const MaxProblems = 10

// source is where the tree stands with one process's events.
type source struct {
	applied uint64
	pending map[uint64]Event
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{} } // its maps are made when first written

// Seal lets go of what the tree needs only to add events (the index of
// its steps by id, the events waiting for others), once no more will be
// added: a tree that a task's record holds then costs its sections.
func (t *Tree) Seal() {
	t.nodes, t.parked = nil, nil
	for _, s := range t.sources {
		s.pending = nil
	}
}

// Refuse records that something the task sent was not taken, and why.
func (t *Tree) Refuse(problem string) {
	t.Refused++
	if len(t.Problems) < MaxProblems {
		t.Problems = append(t.Problems, problem)
	}
}

// Fault says what the host held against the task's reporting, or "":
// the limit it went over, or how many of its events were refused and why
// the first one was.
func (t *Tree) Fault() string {
	switch {
	case t.Over != "":
		return t.Over
	case t.Refused == 1:
		return "refused 1 event from the task: " + t.Problems[0]
	case t.Refused > 1:
		return fmt.Sprintf("refused %d events from the task; the first: %s", t.Refused, t.Problems[0])
	}
	return ""
}

// Add applies ev once, in its source's sequence order: an event seen
// before is ignored, and one that arrives early waits until the events
// before it arrive. A child process's step whose parent (a step of
// another process) has not started yet waits for it too, with the
// events of that process after it. An event that makes no sense is
// skipped and refused (see Refused), and Add returns the first error.
func (t *Tree) Add(ev Event) error {
	s := t.sources[ev.Src]
	if s == nil {
		s = &source{}
		if t.sources == nil {
			t.sources = map[string]*source{}
		}
		t.sources[ev.Src] = s
	}
	if ev.Seq <= s.applied {
		return nil // a duplicate
	}
	if ev.Seq != s.applied+1 || t.waitsForParent(ev) {
		if _, dup := s.pending[ev.Seq]; !dup {
			if s.pending == nil {
				s.pending = map[uint64]Event{}
			}
			s.pending[ev.Seq] = ev
			if ev.Seq == s.applied+1 {
				t.park(ev)
			}
		}
		return nil
	}
	return t.advance(s, ev)
}

// kindRefused marks the place, in its source's order, of an event that
// was refused before it reached the tree (see AddChecked).
const kindRefused = "refused"

// AddChecked checks an event that travelled on the hub (Check, with r)
// and adds it. An event that fails the check is refused; if its source
// and sequence number are sound it still takes its place in its source's
// order (the events after it do not wait for it), and is counted once,
// when its turn comes, however often it was sent.
func (t *Tree) AddChecked(w *Sent, r Rules) error {
	ev, err := Check(w, r)
	if err == nil {
		return t.Add(ev)
	}
	src, seq := w.Src, w.Seq
	if checkSrc(src) != nil || seq == 0 || (r.MaxSeq > 0 && seq > r.MaxSeq) {
		t.Refuse(err.Error())
		return err
	}
	_ = t.Add(Event{Src: src, Seq: seq, Kind: kindRefused, Reason: err.Error()})
	return err
}

// waitsForParent reports whether ev starts a step of a child process
// under a step that has not started.
func (t *Tree) waitsForParent(ev Event) bool {
	if ev.Kind != KindStart || ev.Src == "" || ev.Parent == "" {
		return false
	}
	_, ok := t.nodes[ev.Parent]
	return !ok
}

// park makes ev's source wait until ev's parent starts.
func (t *Tree) park(ev Event) {
	if t.parked == nil {
		t.parked = map[string][]string{}
	}
	t.parked[ev.Parent] = append(t.parked[ev.Parent], ev.Src)
}

// advance applies ev, the next event of source s, then the
// events of s that waited for it, and then those of the sources that
// waited for a step that started meanwhile. An event that does not apply
// is refused and skipped rather than wedge its source. It returns the
// first error.
func (t *Tree) advance(s *source, ev Event) error {
	var first, err error
	var queue []string
	for {
		s.applied = ev.Seq
		if ev.Kind == kindRefused {
			t.Refuse(ev.Reason)
			if first == nil {
				first = errors.New(ev.Reason)
			}
		} else if err = t.apply(ev); err != nil {
			t.Refuse(err.Error())
			if first == nil {
				first = err
			}
		} else {
			if t.OnApply != nil {
				t.OnApply(ev)
			}
			if ev.Kind == KindStart {
				if srcs, ok := t.parked[ev.ID]; ok {
					queue = append(queue, srcs...)
					delete(t.parked, ev.ID)
				}
			}
		}
		next, ok := s.pending[s.applied+1]
		for !ok || t.waitsForParent(next) {
			if ok {
				t.park(next)
			}
			if len(queue) == 0 {
				return first
			}
			s, queue = t.sources[queue[0]], queue[1:]
			next, ok = s.pending[s.applied+1]
		}
		delete(s.pending, next.Seq)
		ev = next
	}
}

// Applied is the sequence number of the last event applied from src ("" is
// the task process).
func (t *Tree) Applied(src string) uint64 {
	if s := t.sources[src]; s != nil {
		return s.applied
	}
	return 0
}

// Settle applies the events still waiting for an earlier one, in order,
// skipping the gaps: for a process that is gone, the missing events will
// not come, and what came after them is still the record. A step that
// still waits for a parent that never started is refused. Sources are
// settled in the order of their names, so that the same events settle
// the same way. It returns how many events were missing, and adds them to
// Missing.
func (t *Tree) Settle() int {
	srcs := slices.Sorted(maps.Keys(t.sources))
	missing := 0
	// First without refusing a step whose parent another source may still
	// start; then whatever is left, refused if it still makes no sense.
	for _, final := range []bool{false, true} {
		for _, src := range srcs {
			s := t.sources[src]
			for _, q := range slices.Sorted(maps.Keys(s.pending)) {
				ev, ok := s.pending[q]
				if !ok {
					continue // applied meanwhile
				}
				missing += int(q - s.applied - 1)
				s.applied = q - 1 // the gap skipped
				if !final && t.waitsForParent(ev) {
					t.park(ev)
					break
				}
				delete(s.pending, q)
				_ = t.advance(s, ev)
			}
		}
	}
	clear(t.parked)
	t.Missing += missing
	return missing
}

// Pending is how many events wait for an earlier one of their source.
func (t *Tree) Pending() int {
	n := 0
	for _, s := range t.sources {
		n += len(s.pending)
	}
	return n
}

func (t *Tree) apply(ev Event) error {
	if ev.Time.After(t.Last) {
		t.Last = ev.Time
	}
	switch ev.Kind {
	case KindStart:
		if ev.ID == "" {
			return fmt.Errorf("event %d: start without an id", ev.Seq)
		}
		if _, dup := t.nodes[ev.ID]; dup {
			return fmt.Errorf("event %d: step %q started twice", ev.Seq, ev.ID)
		}
		n := &Node{Type: ev.Type, ID: ev.ID, Name: ev.Name, StartTime: ev.Time, PID: ev.PID, open: true}
		if n.Type == "" {
			n.Type = TypeStep
		}
		if ev.Parent == "" {
			t.Sections = append(t.Sections, n)
		} else {
			p, ok := t.nodes[ev.Parent]
			if !ok {
				return fmt.Errorf("event %d: step %q has unknown parent %q", ev.Seq, ev.ID, ev.Parent)
			}
			p.Sections = append(p.Sections, n)
		}
		if t.nodes == nil {
			t.nodes = map[string]*Node{}
		}
		t.nodes[ev.ID] = n
	case KindEnd:
		if ev.ID == "" {
			if ev.Src != "" {
				return nil // a child process ended; its steps carry its results
			}
			t.Own = Outcome{Value: ev.Result, Reason: ev.Reason, Data: ev.Data}
			t.Ended = true
			return nil
		}
		n, ok := t.nodes[ev.ID]
		if !ok {
			return fmt.Errorf("event %d: end of unknown step %q", ev.Seq, ev.ID)
		}
		n.open = false
		n.StopTime = ev.Time
		n.Runtime = max(0, ev.Time.Sub(n.StartTime).Seconds()) // a clock set back is not a negative time
		n.Result = Outcome{Value: rollupNode(ev.Result, n), Reason: ev.Reason, Data: ev.Data}
		n.Logs = ev.Logs
		t.spill()
	case KindLog:
		t.Logs = append(t.Logs, ev.Name)
	default:
		return fmt.Errorf("event %d: unknown kind %q", ev.Seq, ev.Kind)
	}
	return nil
}

// rollupNode is a node's own result rolled up with its children's; a node
// with neither is Passed.
func rollupNode(own result.Result, n *Node) result.Result {
	r := own
	for _, c := range n.Sections {
		r = result.Rollup(r, c.Result.Value)
	}
	return r.Or(result.Passed)
}

// Result is the task's rolled-up result: its own with its sections'.
// A task with neither is Passed.
func (t *Tree) Result() result.Result {
	r := t.Own.Value
	for _, v := range t.spilled {
		r = result.Rollup(r, v)
	}
	for _, n := range t.Sections {
		r = result.Rollup(r, n.Result.Value)
	}
	return r.Or(result.Passed)
}

// CloseOpen ends every section or step still open (its process died or was
// stopped) with r and reason, innermost first, at time at.
func (t *Tree) CloseOpen(r result.Result, reason string, at time.Time) {
	var walk func([]*Node)
	walk = func(ns []*Node) {
		for _, n := range ns {
			walk(n.Sections)
			if n.open {
				n.open = false
				n.StopTime = at
				n.Runtime = at.Sub(n.StartTime).Seconds()
				n.Result = Outcome{Value: rollupNode(r, n), Reason: reason}
			}
		}
	}
	walk(t.Sections)
}

// Count returns how many sections and steps the tree holds.
func (t *Tree) Count() int { return len(t.nodes) }

// WriteText prints a result tree as an indented outline, one line per
// section or step, like pyATS's summary of a testscript.
func WriteText(w io.Writer, task string, r result.Result, reason string, sections []*Node) {
	line := func(depth int, name string, r result.Result, reason string) {
		s := fmt.Sprintf("%s%s%s", strings.Repeat("  ", depth), "", name)
		dots := 60 - len(s)
		if dots < 2 {
			dots = 2
		}
		fmt.Fprintf(w, "%s %s %s", s, strings.Repeat(".", dots), strings.ToUpper(r.String()))
		if reason != "" {
			fmt.Fprintf(w, "  (%s)", reason)
		}
		fmt.Fprintln(w)
	}
	line(0, task, r, reason)
	var walk func(int, []*Node)
	walk = func(d int, ns []*Node) {
		for _, n := range ns {
			line(d, n.ID+" "+n.Name, n.Result.Value, n.Result.Reason)
			walk(d+1, n.Sections)
		}
	}
	walk(1, sections)
}
