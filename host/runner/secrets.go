package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
)

// How a run keeps its sensitive values (docs/reliability.md, "Secrets"):
//
//   - the packs' environment has no TASKHOST_VAR_* (packEnviron): a task
//     gets a variable's value in its args, if it takes it;
//   - each task's pack is told which of its args' values are sensitive
//     (RunRequest.sensitive), and the SDK masks them in what it reports
//     and logs;
//   - the hub masks every event it takes in (hub.Config.Mask), so that
//     the record, the reports, run --json and the terminal never see them
//     whatever the pack did;
//   - what the host writes from the packs' other words (the reason Run
//     returned, outputs, the state, a pack's stderr, launch errors) and
//     job.log and the terminal go through the same Masker;
//   - when a task ends, its log files are masked in place (maskLogs).

// packEnviron is the environment of the packs: the host's, without the
// values given to jobfile variables (TASKHOST_VAR_*), which a task gets
// in its args if it takes them.
func packEnviron() []string { return launch.HostEnviron() }

// shortWarnings says which sensitive variables hold a value too short to
// be masked.
func shortWarnings(job *jobfile.Job) []string {
	var out []string
	for _, name := range job.ShortSensitive(mask.MinLen) {
		out = append(out, fmt.Sprintf("var.%s holds a value shorter than %d bytes: too short to be masked in what tasks report", name, mask.MinLen))
	}
	return out
}

// maskRecord masks what a task's record holds that came from its pack
// other than through events: the reasons the host was given (Run's
// reason, a launch error, the pack's stderr), and outputs.
func (r *execution) maskRecord(rec *results.Task) {
	if r.mask.Empty() {
		return
	}
	rec.Result.Reason = r.mask.String(rec.Result.Reason)
	rec.Result.Data = r.mask.JSON(rec.Result.Data)
	for _, a := range rec.Attempts {
		a.Result.Reason = r.mask.String(a.Result.Reason)
		a.Result.Data = r.mask.JSON(a.Result.Data)
		r.maskNodes(a.Sections)
	}
	if len(rec.Attempts) == 0 { // else Sections are the last attempt's
		r.maskNodes(rec.Sections)
	}
	for k, v := range rec.Outputs {
		rec.Outputs[k] = r.mask.JSON(v)
	}
}

// maskNodes masks the reasons the host gave steps it closed (the task's
// own reason, when its process died or was stopped); what the steps were
// sent with was masked as it came in already.
func (r *execution) maskNodes(ns []*report.Node) {
	for _, n := range ns {
		n.Result.Reason = r.mask.String(n.Result.Reason)
		r.maskNodes(n.Sections)
	}
}

// maskState masks the values of the run's shared state for its record.
func (r *execution) maskState(st map[string]json.RawMessage) map[string]json.RawMessage {
	if r.mask.Empty() {
		return st
	}
	for k, v := range st {
		st[k] = r.mask.JSON(v)
	}
	return st
}

// maskLogs masks the log files of a task or hook that ended, those its
// record names in its own directory dir (a process of a pack without
// masking, a raw write to a file descriptor, a child's output), and moves
// the steps' log ranges in trees to where their lines are now. Files of
// other directories are left alone: they are not the task's to change.
func (r *execution) maskLogs(dir string, logfile string, logs []string, trees ...[]*report.Node) {
	if r.mask.Empty() {
		return
	}
	files := map[string]bool{logfile: true}
	for _, l := range logs {
		files[l] = true
	}
	var walk func([]*report.Node)
	walk = func(ns []*report.Node) {
		for _, n := range ns {
			if n.Logs != nil {
				files[n.Logs.File] = true
			}
			walk(n.Sections)
		}
	}
	for _, t := range trees {
		walk(t)
	}
	edits := map[string][]mask.Edit{}
	for rel := range files {
		p := filepath.Join(r.dir, rel)
		if rel == "" || !filepath.IsLocal(rel) || filepath.Dir(p) != dir {
			continue
		}
		if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		e, err := r.mask.File(p)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				r.log.Warn("log file not masked", "file", rel, "error", err)
			}
			continue
		}
		if len(e) > 0 {
			edits[rel] = e
			r.log.Info("sensitive values masked in a log file", "file", rel, "count", len(e))
		}
	}
	if len(edits) == 0 {
		return
	}
	moved := map[*report.LogRef]bool{}
	var move func([]*report.Node)
	move = func(ns []*report.Node) {
		for _, n := range ns {
			if l := n.Logs; l != nil && !moved[l] && edits[l.File] != nil {
				moved[l] = true
				e := edits[l.File]
				begin, end := mask.Shift(e, l.Begin, false), mask.Shift(e, l.Begin+l.Size, true)
				l.Begin, l.Size = begin, end-begin
			}
			move(n.Sections)
		}
	}
	for _, t := range trees {
		move(t)
	}
}

// maskTaskLogs masks the log files of a task that ended: see maskLogs.
func (r *execution) maskTaskLogs(rec *results.Task) {
	trees := [][]*report.Node{rec.Sections}
	logs := rec.Logs
	for _, a := range rec.Attempts {
		trees = append(trees, a.Sections)
		logs = append(logs, a.Logs...)
	}
	r.maskLogs(filepath.Join(r.dir, "tasks", rec.ID), rec.Logfile, logs, trees...)
}

// maskHook masks a hook call's record and log files, as maskRecord and
// maskTaskLogs do a task's.
func (r *execution) maskHook(dir string, c *results.HookRun) {
	if r.mask.Empty() {
		return
	}
	c.Result.Reason = r.mask.String(c.Result.Reason)
	r.maskNodes(c.Sections)
	r.maskLogs(dir, c.Logfile, nil, c.Sections)
}
