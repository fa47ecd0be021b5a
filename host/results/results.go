package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/taskhost/taskhost/host/printable"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
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
	// State is the run's shared state when it ended.
	State   map[string]json.RawMessage `json:"state,omitempty"`
	Summary Summary                    `json:"summary"`
	Result  result.Result              `json:"result"`
	// Hooks lists every hook call, in the order they ended.
	Hooks []*HookRun `json:"hooks,omitempty"`
	Tasks []*Task    `json:"tasks"`
}

// Task is the record of one task.
type Task struct {
	ID   string `json:"id"`
	Pack string `json:"pack"`
	Task string `json:"task"`
	PID  int    `json:"pid,omitempty"`
	// Agent is the taskhost agent that ran the task's last attempt; ""
	// for the host.
	Agent     string         `json:"agent,omitempty"`
	Logfile   string         `json:"logfile,omitempty"`
	Logs      []string       `json:"logs,omitempty"`
	StartTime time.Time      `json:"starttime,omitzero"`
	StopTime  time.Time      `json:"stoptime,omitzero"`
	Runtime   float64        `json:"runtime"`
	Summary   Summary        `json:"summary"`
	Result    report.Outcome `json:"result"`
	// Outputs are the outputs the task set (T.SetOutput), each as JSON.
	Outputs map[string]json.RawMessage `json:"outputs,omitempty"`
	// Attempts lists every run of a task that was retried, the last one
	// included; Sections is the last one's.
	Attempts []*Attempt `json:"attempts,omitempty"`
	// Spool, if not nil, holds the first of the task's top-level
	// sections, which the host let go of as the task ran: Sections are
	// those after them. Write, WriteJUnit and the HTML report read them
	// from it; a task with Attempts has none.
	Spool    report.Spool   `json:"-"`
	Sections []*report.Node `json:"sections"`
}

// Attempt is one run of a task that has retries.
type Attempt struct {
	Attempt   int            `json:"attempt"`
	PID       int            `json:"pid,omitempty"`
	Agent     string         `json:"agent,omitempty"`
	StartTime time.Time      `json:"starttime"`
	StopTime  time.Time      `json:"stoptime"`
	Result    report.Outcome `json:"result"`
	Logs      []string       `json:"logs,omitempty"`
	// Spool is as a Task's: none once the attempt is in a Task's
	// Attempts.
	Spool    report.Spool   `json:"-"`
	Sections []*report.Node `json:"sections"`
}

// Summary counts results, as pyATS does.
type Summary = result.Counts

// Finish fills in the task's summary (of its top-level sections) and
// runtime.
func (t *Task) Finish() {
	rs := make([]result.Result, 0, report.Len(t.Spool, t.Sections))
	_ = report.Each(t.Spool, t.Sections, func(n *report.Node) error {
		rs = append(rs, n.Result.Value)
		return nil
	})
	t.Summary = result.Count(rs)
	if !t.StartTime.IsZero() && !t.StopTime.IsZero() {
		// By the wall clock, as the times are written: a record read back
		// (results recover) gets the same runtime.
		t.Runtime = t.StopTime.Round(0).Sub(t.StartTime.Round(0)).Seconds()
	}
}

// Finish fills in the job's summary (of its tasks), result and runtime.
func (r *Report) Finish() {
	rs := make([]result.Result, len(r.Tasks))
	for i, t := range r.Tasks {
		rs[i] = t.Result.Value
	}
	r.Summary = result.Count(rs)
	r.Result = result.Rollup(rs...).Or(result.Passed)
	r.Runtime = r.StopTime.Round(0).Sub(r.StartTime.Round(0)).Seconds()
}

// ExitCode is the process exit code for a job result: 3 when a hook
// failed, else 0 when every task succeeded (Passed, Passx, Skipped), else 1.
func (r *Report) ExitCode() int {
	if r.HookFailures() > 0 {
		return 3
	}
	if r.Summary.Passed+r.Summary.Passx+r.Summary.Skipped == r.Summary.Total {
		return 0
	}
	return 1
}

// Write writes f to path atomically: a reader sees the old file or the
// new one, never half of one. The JSON is indented, and written a section
// at a time, so that a run of many steps is not held twice in memory.
// What would not encode is mended first, in f too (see Mend).
func Write(path string, f *File) error {
	Mend(f)
	if err := WriteAtomic(path, func(w *bufio.Writer) error { return writeFile(w, f) }); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// WriteAtomic writes a file of the run directory through write, to a
// temporary file beside path that is renamed to path once complete, so
// that a reader sees the old file or the whole new one, never a part. Its
// mode is FileMode of its directory.
func WriteAtomic(path string, write func(*bufio.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(tmp, 256<<10)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Chmod(FileMode(filepath.Dir(path)))
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeFile writes f as json.MarshalIndent(f, "", "  ") would, but each
// key of the shared state, each task, and each of its top-level sections,
// on its own.
func writeFile(w *bufio.Writer, f *File) error {
	rep := f.Report
	tasks, state := rep.Tasks, rep.State
	rep.Tasks, rep.State = nil, nil
	head, err := json.MarshalIndent(File{Version: f.Version, Report: rep}, "", "  ")
	if err != nil {
		return err
	}
	// Tasks is the last field of Report, and Report the last of File.
	head, ok := cutNullField(head, "tasks", "  ", 2)
	if !ok {
		panic("results: Report.Tasks must be its last field") // our own layout
	}
	if len(state) > 0 {
		// State comes just before Summary.
		at := bytes.Index(head, []byte("\n    \"summary\": "))
		if at < 0 {
			panic("results: Report.Summary must follow Report.State") // our own layout
		}
		w.Write(head[:at])
		if err := writeState(w, state); err != nil {
			return err
		}
		head = head[at:]
	}
	w.Write(head)
	for i, t := range tasks {
		sep(w, i, "\n      ")
		tc := *t
		tc.Sections, tc.Spool = nil, nil
		b, err := json.MarshalIndent(&tc, "      ", "  ")
		if err != nil {
			return err
		}
		b, ok := cutNullField(b, "sections", "      ", 1)
		if !ok {
			panic("results: Task.Sections must be its last field")
		}
		w.Write(b)
		var buf []byte
		j := 0
		err = report.Each(t.Spool, t.Sections, func(n *report.Node) error {
			sep(w, j, "\n          ")
			j++
			buf, err = appendNode(buf[:0], n, "          ")
			if err != nil {
				return err
			}
			w.Write(buf)
			return nil
		})
		if err != nil {
			return err
		}
		if j > 0 {
			w.WriteString("\n        ")
		}
		w.WriteString("]\n      }")
	}
	if len(tasks) > 0 {
		w.WriteString("\n    ")
	}
	_, err = w.WriteString("]\n  }\n}\n")
	return err
}

// writeState writes the report's state field and the comma after it as
// json.MarshalIndent would, a key at a time: the state may be large.
func writeState(w *bufio.Writer, state map[string]json.RawMessage) error {
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.WriteString("\n    \"state\": {")
	var buf []byte
	for i, k := range keys {
		sep(w, i, "\n      ")
		buf = append(appendString(buf[:0], k), ": "...)
		var err error
		if buf, err = appendRaw(buf, state[k], "      "); err != nil {
			return fmt.Errorf("state %q: %w", k, err)
		}
		w.Write(buf)
	}
	w.WriteString("\n    },")
	return nil
}

// cutNullField takes the closing of an indented object whose last field
// is `"name": null` off b, leaving it open after `"name": [`. depth is how
// many objects close after the field.
func cutNullField(b []byte, name, prefix string, depth int) ([]byte, bool) {
	i := bytes.LastIndex(b, []byte(`"`+name+`": null`))
	if i < 0 {
		return nil, false
	}
	rest := strings.TrimSpace(string(b[i+len(name)+8:]))
	if rest != strings.Repeat("}", depth) && strings.ReplaceAll(strings.ReplaceAll(rest, "\n", ""), " ", "") != strings.Repeat("}", depth) {
		return nil, false
	}
	return append(b[:i:i], `"`+name+`": [`...), true
}

func sep(w *bufio.Writer, i int, indent string) {
	if i > 0 {
		w.WriteByte(',')
	}
	w.WriteString(indent)
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
func WriteSummary(w io.Writer, r *Report) { writeSummary(w, r, false) }

// WriteQuietSummary is WriteSummary with only the tasks that did not pass
// in the table (`run -q`), and how many did.
func WriteQuietSummary(w io.Writer, r *Report) { writeSummary(w, r, true) }

func writeSummary(w io.Writer, r *Report, quiet bool) {
	passed := 0
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if !quiet {
		fmt.Fprintln(tw, "TASK\tRESULT\tDURATION\tREASON")
	}
	for i, t := range r.Tasks {
		if quiet && t.Result.Value.Success() {
			passed++
			continue
		}
		if quiet && i == passed {
			fmt.Fprintln(tw, "TASK\tRESULT\tDURATION\tREASON")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", printable.Text(t.ID), strings.ToUpper(t.Result.Value.String()),
			(time.Duration(t.Runtime * float64(time.Second))).Round(time.Millisecond), printable.Text(oneLine(t.Result.Reason)))
	}
	tw.Flush()
	switch {
	case passed == 1:
		fmt.Fprintln(w, "1 task that passed is not listed (-q)")
	case passed > 1:
		fmt.Fprintf(w, "%d tasks that passed are not listed (-q)\n", passed)
	}
	s := r.Summary
	fmt.Fprintf(w, "\nJob %s: %s — %d tasks: %d passed, %d passx, %d failed, %d errored, %d aborted, %d blocked, %d skipped (success rate %.1f%%) in %s\n",
		r.Name, strings.ToUpper(r.Result.String()), s.Total, s.Passed, s.Passx, s.Failed, s.Errored, s.Aborted, s.Blocked, s.Skipped,
		s.SuccessRate, time.Duration(r.Runtime*float64(time.Second)).Round(time.Millisecond))
	writeHookFailures(w, r)
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 100 {
		s = string(r[:97]) + "..."
	}
	return s
}
