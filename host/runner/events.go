package runner

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// Event is one event of a run as it happens: one line of `taskhost run
// --json`. Type is one of the Event* constants; the other fields are set
// as they apply.
type Event struct {
	Type   string    `json:"type"`
	Time   time.Time `json:"time"`
	Task   string    `json:"task,omitempty"`
	Step   string    `json:"step,omitempty"`
	Parent string    `json:"parent,omitempty"`
	Name   string    `json:"name,omitempty"`
	Kind   string    `json:"kind,omitempty"`
	PID    int       `json:"pid,omitempty"`
	// Agent is the agent a task started on (task_started); "" for the
	// host.
	Agent string `json:"agent,omitempty"`
	// Pack is the task's pack (task_started, task_finished).
	Pack string `json:"pack,omitempty"`
	// Attempt is the attempt's number, from 1 (task_started); in
	// task_finished, how many attempts were started (0, left out, for a
	// task never started).
	Attempt int `json:"attempt,omitempty"`
	// Duration is how long it took, in seconds: a step from its start to
	// its end (step_finished), a task from when it was taken up to its
	// end, as `runtime` in results.json (task_finished of a task that
	// started).
	Duration float64          `json:"duration,omitempty"`
	Result   result.Result    `json:"result,omitempty"`
	Reason   string           `json:"reason,omitempty"`
	Data     json.RawMessage  `json:"data,omitempty"`
	Logs     *report.LogRef   `json:"logs,omitempty"`
	File     string           `json:"file,omitempty"`
	RunDir   string           `json:"rundir,omitempty"`
	Summary  *results.Summary `json:"summary,omitempty"`
}

// Event types.
const (
	EventJobStarted   = "job_started"   // RunDir, Name
	EventTaskStarted  = "task_started"  // Task, Pack, Attempt, PID, Agent
	EventStepStarted  = "step_started"  // Task, Step, Parent, Name, Kind, PID
	EventStepFinished = "step_finished" // Task, Step, Result, Reason, Duration, Data, Logs
	EventLogFile      = "log_file"      // Task, File, PID: a process of the task made a log file
	EventTaskFinished = "task_finished" // Task, Pack, Attempt, Result, Reason, Duration (also for tasks never started)
	EventJobFinished  = "job_finished"  // Result, Summary, RunDir
	// The run's store (its disk) stopped writing, or gave up (the run
	// stops), and writes again: Reason says what happened.
	EventStoreFailed    = "store_failed"
	EventStoreRecovered = "store_recovered"
)

// fromReport turns a task's result event into a run event; ok is false
// for events that have no run event of their own.
func fromReport(task string, ev report.Event) (Event, bool) {
	out := Event{Time: ev.Time, Task: task, Step: ev.ID, PID: ev.PID}
	switch {
	case ev.Kind == report.KindStart:
		out.Type, out.Parent, out.Name, out.Kind = EventStepStarted, ev.Parent, ev.Name, ev.Type
	case ev.Kind == report.KindEnd && ev.ID != "":
		out.Type, out.Result, out.Reason, out.Data, out.Logs = EventStepFinished, ev.Result, ev.Reason, ev.Data, ev.Logs
	case ev.Kind == report.KindLog:
		out.Type, out.File, out.Step = EventLogFile, ev.Name, ev.Parent
	default:
		return out, false
	}
	return out, true
}

// stepClock turns a task's result events into run events, giving each
// step_finished the time since its step_started. Its events come from
// any goroutine.
type stepClock struct {
	mu     sync.Mutex
	starts map[string]time.Time // by task, process and step
}

func (c *stepClock) fromReport(task string, ev report.Event) (Event, bool) {
	out, ok := fromReport(task, ev)
	if !ok {
		return out, false
	}
	key := task + "\x00" + ev.Src + "\x00" + ev.ID
	c.mu.Lock()
	defer c.mu.Unlock()
	switch out.Type {
	case EventStepStarted:
		if c.starts == nil {
			c.starts = map[string]time.Time{}
		}
		c.starts[key] = ev.Time
	case EventStepFinished:
		if start, ok := c.starts[key]; ok {
			out.Duration = ev.Time.Sub(start).Seconds()
			delete(c.starts, key)
		}
	}
	return out, true
}
