package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/taskhost/taskhost/internal/result"
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

	nodes   map[string]*Node
	sources map[string]*source
}

// source is where the tree stands with one process's events.
type source struct {
	applied uint64
	pending map[uint64]Event
}

// NewTree returns an empty tree.
func NewTree() *Tree {
	return &Tree{nodes: map[string]*Node{}, sources: map[string]*source{}}
}

// Add applies ev once, in its source's sequence order: an event seen
// before is ignored, and one that arrives early waits until the events
// before it arrive. It returns an error for an event that makes no sense
// (the event is skipped).
func (t *Tree) Add(ev Event) error {
	s := t.sources[ev.Src]
	if s == nil {
		s = &source{pending: map[uint64]Event{}}
		t.sources[ev.Src] = s
	}
	if ev.Seq <= s.applied {
		return nil // a duplicate
	}
	if ev.Seq != s.applied+1 {
		s.pending[ev.Seq] = ev
		return nil
	}
	var first error
	for {
		s.applied = ev.Seq // an event that does not apply is skipped rather than wedge the source
		if err := t.apply(ev); err != nil {
			if first == nil {
				first = err
			}
		} else if t.OnApply != nil {
			t.OnApply(ev)
		}
		next, ok := s.pending[s.applied+1]
		if !ok {
			return first
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
// not come, and what came after them is still the record. It returns how
// many events were missing.
func (t *Tree) Settle() int {
	missing := 0
	for _, s := range t.sources {
		seqs := make([]uint64, 0, len(s.pending))
		for q := range s.pending {
			seqs = append(seqs, q)
		}
		slices.Sort(seqs)
		for _, q := range seqs {
			ev := s.pending[q]
			delete(s.pending, q)
			missing += int(q - s.applied - 1)
			s.applied = q
			if t.apply(ev) == nil && t.OnApply != nil {
				t.OnApply(ev)
			}
		}
	}
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
		n.Runtime = ev.Time.Sub(n.StartTime).Seconds()
		n.Result = Outcome{Value: rollupNode(ev.Result, n), Reason: ev.Reason, Data: ev.Data}
		n.Logs = ev.Logs
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
