package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// Recover rebuilds results.json of a run whose host died, from the hub's
// store in the run directory: every event the hub had acknowledged is
// there. A task that had ended is as the host recorded it: its note holds
// everything but its sections, and its tree was sealed in the stream when
// its attempt ended, so Replay takes exactly what the host took. A task
// that had not ended is Aborted, with its open steps; one that had not
// started is Aborted "not started". It writes results.json and returns
// it.
//
// A run whose hub was on a cluster (its hub/ has hub.ClusterRecordFile)
// is recovered from the cluster, with RecoverCluster.
func Recover(runDir string) (*results.File, error) {
	if _, err := hub.ReadClusterRecord(filepath.Join(runDir, "hub")); err == nil {
		return nil, fmt.Errorf("recover: the hub of %s was on a NATS cluster: recover it from there (taskhost results recover --hub)", runDir)
	}
	return recoverFrom(runDir, hub.Replay)
}

// RecoverCluster is Recover for a run whose hub was on a cluster: the
// run's record is read there, as ext's host (ext.URLs "" is the URLs the
// run used).
func RecoverCluster(runDir string, ext hub.ExternalConfig) (*results.File, error) {
	return recoverFrom(runDir, func(dir string) (*hub.Record, error) { return hub.ReplayCluster(dir, ext) })
}

func recoverFrom(runDir string, replay func(storeDir string) (*hub.Record, error)) (*results.File, error) {
	for _, p := range []string{"job.log", "hub"} {
		if _, err := os.Stat(filepath.Join(runDir, p)); err != nil {
			return nil, fmt.Errorf("recover: %s is not a run directory: %w", runDir, err)
		}
	}
	// The room a run kept for its record is for this one now.
	os.Remove(filepath.Join(runDir, reserveName))
	rec, err := replay(filepath.Join(runDir, "hub"))
	if err != nil {
		return nil, err
	}
	var file *results.File
	for _, n := range rec.Notes {
		if n.Kind == noteJob {
			file = &results.File{}
			if err := json.Unmarshal(n.Data, file); err != nil {
				return nil, fmt.Errorf("recover: the job's note: %w", err)
			}
		}
	}
	if file == nil {
		return nil, errors.New("recover: the hub's store has no record of the job (the host died before the run began)")
	}
	stop := file.Report.StartTime
	started := map[int]bool{}
	ended := map[int]bool{}
	slot := map[int]int{} // the hub slot of each task's last attempt
	for _, n := range rec.Notes {
		if n.Index < 1 || n.Index > len(file.Report.Tasks) {
			continue
		}
		t := file.Report.Tasks[n.Index-1]
		switch n.Kind {
		case noteTaskStarted, noteTaskEnded:
			var h results.Task
			if err := json.Unmarshal(n.Data, &h); err != nil {
				return nil, fmt.Errorf("recover: note on task %s: %w", n.Task, err)
			}
			t.PID, t.Agent, t.StartTime = h.PID, h.Agent, h.StartTime
			t.Logfile = h.Logfile
			if n.Kind == noteTaskStarted {
				started[n.Index] = true
				slot[n.Index] = max(n.Slot, n.Index)
			} else {
				// The host's record of the task but its sections.
				ended[n.Index] = true
				h.Sections = t.Sections
				*t = h
			}
			stop = later(stop, h.StartTime, h.StopTime)
		}
	}
	for _, tree := range rec.Trees {
		stop = later(stop, tree.Last)
	}

	// A task still running when the host died ended, for the record, when
	// it last reported anything.
	const died = "the host stopped before the task ended"
	for i, t := range file.Report.Tasks {
		tree := rec.Trees[max(slot[i+1], i+1)]
		switch {
		case ended[i+1]:
		case started[i+1]:
			t.Result = report.Outcome{Value: result.Aborted, Reason: died}
			if tree != nil && tree.Fault() != "" {
				t.Result.Reason += "; " + tree.Fault()
			}
			t.StopTime = t.StartTime
			if tree != nil {
				t.StopTime = later(t.StartTime, tree.Last)
			}
		default:
			t.Result = report.Outcome{Value: result.Aborted, Reason: "not started: the host stopped"}
		}
		if tree == nil {
			continue
		}
		tree.Settle()
		tree.CloseOpen(result.Aborted, died, later(t.StartTime, tree.Last))
		t.Sections = tree.Sections
		if len(tree.Logs) > 0 {
			t.Logs = tree.Logs
		}
	}
	for _, t := range file.Report.Tasks {
		t.Finish()
	}
	if len(rec.State) > 0 {
		file.Report.State = rec.State
	}
	file.Report.StopTime = stop
	file.Report.Finish()
	if err := results.Write(filepath.Join(runDir, "results.json"), file); err != nil {
		return file, err
	}
	return file, nil
}

func later(t time.Time, ts ...time.Time) time.Time {
	for _, u := range ts {
		if u.After(t) {
			t = u
		}
	}
	return t
}
