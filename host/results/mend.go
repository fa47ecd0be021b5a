package results

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// Mend replaces, in f, each part of the record that would not encode as
// JSON, so that one task's record can never cost the others theirs: a
// task (or hook call) whose record holds something that does not encode
// (step data that is not JSON, a time outside the years 0 to 9999) keeps
// its id, pack, times and process, loses its sections, and is Errored
// with the reason "its record could not be written: …"; a shared state
// value that is not JSON becomes a string saying so. The host checks
// what tasks send before it takes it, so this is a second wall. Mend
// returns what it replaced, one line each, and updates the summaries.
// Write calls it.
func Mend(f *File) []string {
	var mended []string
	r := &f.Report
	for k, v := range r.State {
		if !json.Valid(v) {
			r.State[k], _ = json.Marshal("(not JSON: not written)")
			mended = append(mended, fmt.Sprintf("state %q: not JSON", k))
		}
	}
	for i, h := range r.Hooks {
		if err := encodes(h, h.Sections); err != nil {
			r.Hooks[i] = &HookRun{Name: h.Name, Pack: h.Pack, Hook: h.Hook, Stage: h.Stage, Task: h.Task, PID: h.PID,
				Logfile: h.Logfile, StartTime: sane(h.StartTime), StopTime: sane(h.StopTime),
				Result: report.Outcome{Value: result.Errored, Reason: unwritten(err)}, Sections: []*report.Node{}}
			mended = append(mended, fmt.Sprintf("hook %s: %v", h.Name, err))
		}
	}
	for i, t := range r.Tasks {
		head := *t
		head.Sections, head.Spool = nil, nil
		err := encodes(&head, t.Sections)
		if err == nil && t.Spool != nil {
			err = t.Spool.Each(func(n *report.Node) error { return checkNodes([]*report.Node{n}) })
		}
		if err != nil {
			r.Tasks[i] = &Task{ID: t.ID, Pack: t.Pack, Task: t.Task, PID: t.PID, Logfile: t.Logfile,
				StartTime: sane(t.StartTime), StopTime: sane(t.StopTime),
				Result: report.Outcome{Value: result.Errored, Reason: unwritten(err)}, Sections: []*report.Node{}}
			r.Tasks[i].Finish()
			mended = append(mended, fmt.Sprintf("task %s: %v", t.ID, err))
		}
	}
	if len(mended) > 0 {
		r.Finish()
	}
	return mended
}

func unwritten(err error) string { return "its record could not be written: " + err.Error() }

// encodes says why v, or one of the sections, would not encode.
func encodes(v any, sections []*report.Node) error {
	if _, err := json.Marshal(v); err != nil {
		return err
	}
	return checkNodes(sections)
}

// checkNodes finds what appendNode would fail on: data that is not JSON,
// a time JSON cannot hold.
func checkNodes(ns []*report.Node) error {
	for _, n := range ns {
		if len(n.Result.Data) > 0 && !json.Valid(n.Result.Data) {
			return fmt.Errorf("step %s: data is not JSON", n.ID)
		}
		if !timeOK(n.StartTime) || !timeOK(n.StopTime) {
			return fmt.Errorf("step %s: a time outside the years 0 to 9999", n.ID)
		}
		if err := checkNodes(n.Sections); err != nil {
			return err
		}
	}
	return nil
}

// timeOK reports whether JSON can hold t (RFC 3339 has four-digit years).
func timeOK(t time.Time) bool { return t.Year() >= 0 && t.Year() <= 9999 }

func sane(t time.Time) time.Time {
	if timeOK(t) {
		return t
	}
	return time.Time{}
}
