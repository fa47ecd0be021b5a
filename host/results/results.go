package results

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/result"
)

// SchemaVersion is the version of the results.json layout.
const SchemaVersion = 1

// File is the whole of results.json.
type File struct {
	Version int    `json:"version"`
	Report  Report `json:"report"`
}

// Report is the job's record.
type Report struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	StartTime     time.Time      `json:"starttime"`
	StopTime      time.Time      `json:"stoptime"`
	Runtime       float64        `json:"runtime"`
	Cmdline       string         `json:"cmdline"`
	Jobfile       string         `json:"jobfile"`
	JobfileSHA256 string         `json:"jobfile_sha256"`
	Host          string         `json:"host"`
	Submitter     string         `json:"submitter"`
	RunDir        string         `json:"rundir"`
	Variables     map[string]any `json:"variables,omitempty"`
	Summary       Summary        `json:"summary"`
	Result        result.Result  `json:"result"`
	Tasks         []*Task        `json:"tasks"`
}

// Task is the record of one task.
type Task struct {
	ID        string         `json:"id"`
	Pack      string         `json:"pack"`
	Task      string         `json:"task"`
	PID       int            `json:"pid,omitempty"`
	Logfile   string         `json:"logfile"`
	Logs      []string       `json:"logs,omitempty"`
	StartTime time.Time      `json:"starttime,omitzero"`
	StopTime  time.Time      `json:"stoptime,omitzero"`
	Runtime   float64        `json:"runtime"`
	Summary   Summary        `json:"summary"`
	Result    report.Outcome `json:"result"`
	Sections  []*report.Node `json:"sections"`
}

// Summary counts results, as pyATS does.
type Summary struct {
	Passed      int     `json:"passed"`
	Passx       int     `json:"passx"`
	Failed      int     `json:"failed"`
	Errored     int     `json:"errored"`
	Aborted     int     `json:"aborted"`
	Blocked     int     `json:"blocked"`
	Skipped     int     `json:"skipped"`
	Total       int     `json:"total"`
	SuccessRate float64 `json:"success_rate"`
}

// Summarize counts rs. The success rate is (Passed + Passx + Skipped) /
// total, in percent; 100 for nothing.
func Summarize(rs []result.Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r {
		case result.Passed:
			s.Passed++
		case result.Passx:
			s.Passx++
		case result.Failed:
			s.Failed++
		case result.Errored:
			s.Errored++
		case result.Aborted:
			s.Aborted++
		case result.Blocked:
			s.Blocked++
		case result.Skipped:
			s.Skipped++
		}
	}
	s.Total = len(rs)
	s.SuccessRate = 100
	if s.Total > 0 {
		s.SuccessRate = float64(s.Passed+s.Passx+s.Skipped) * 100 / float64(s.Total)
	}
	return s
}

// Finish fills in the task's summary (of its top-level sections) and
// runtime.
func (t *Task) Finish() {
	rs := make([]result.Result, len(t.Sections))
	for i, n := range t.Sections {
		rs[i] = n.Result.Value
	}
	t.Summary = Summarize(rs)
	if !t.StartTime.IsZero() && !t.StopTime.IsZero() {
		t.Runtime = t.StopTime.Sub(t.StartTime).Seconds()
	}
}

// Finish fills in the job's summary (of its tasks), result and runtime.
func (r *Report) Finish() {
	rs := make([]result.Result, len(r.Tasks))
	for i, t := range r.Tasks {
		rs[i] = t.Result.Value
	}
	r.Summary = Summarize(rs)
	r.Result = result.Rollup(rs...).Or(result.Passed)
	r.Runtime = r.StopTime.Sub(r.StartTime).Seconds()
}

// ExitCode is the process exit code for a job result: 0 when every task
// succeeded (Passed, Passx, Skipped), else 1.
func (r *Report) ExitCode() int {
	if r.Summary.Passed+r.Summary.Passx+r.Summary.Skipped == r.Summary.Total {
		return 0
	}
	return 1
}

// Write writes f to path atomically: a reader sees the old file or the
// new one, never half of one.
func Write(path string, f *File) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".results-*.json")
	if err != nil {
		return err
	}
	enc := json.NewEncoder(tmp)
	enc.SetIndent("", "  ")
	if err := enc.Encode(f); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("encode results: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Read reads a results.json.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// WriteSummary prints the table that ends a run: one line per task with
// its result, duration and reason, then the job's result.
func WriteSummary(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tRESULT\tDURATION\tREASON")
	for _, t := range r.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, strings.ToUpper(t.Result.Value.String()),
			(time.Duration(t.Runtime * float64(time.Second))).Round(time.Millisecond), oneLine(t.Result.Reason))
	}
	tw.Flush()
	s := r.Summary
	fmt.Fprintf(w, "\nJob %s: %s — %d tasks: %d passed, %d passx, %d failed, %d errored, %d aborted, %d blocked, %d skipped (success rate %.1f%%) in %s\n",
		r.Name, strings.ToUpper(r.Result.String()), s.Total, s.Passed, s.Passx, s.Failed, s.Errored, s.Aborted, s.Blocked, s.Skipped,
		s.SuccessRate, time.Duration(r.Runtime*float64(time.Second)).Round(time.Millisecond))
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 100 {
		s = s[:97] + "..."
	}
	return s
}
