package results

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/taskhost/taskhost/host/printable"
	"github.com/taskhost/taskhost/internal/report"
)

// HookRun is the record of one call of a hook: a hook block of the jobfile
// at one stage (and, for pre_task and post_task, around one task).
type HookRun struct {
	// Name is the hook block's label; Pack and Hook name what served it.
	Name  string `json:"name"`
	Pack  string `json:"pack"`
	Hook  string `json:"hook"`
	Stage string `json:"stage"`
	// Task is the task a pre_task or post_task call ran around.
	Task      string         `json:"task,omitempty"`
	PID       int            `json:"pid,omitempty"`
	Logfile   string         `json:"logfile,omitempty"`
	StartTime time.Time      `json:"starttime"`
	StopTime  time.Time      `json:"stoptime"`
	Result    report.Outcome `json:"result"`
	Sections  []*report.Node `json:"sections"`
}

// Failed reports whether the call did not succeed (Passed, Passx or
// Skipped).
func (h *HookRun) Failed() bool { return !h.Result.Value.Success() }

// HookFailures counts the hook calls that failed.
func (r *Report) HookFailures() int {
	n := 0
	for _, h := range r.Hooks {
		if h.Failed() {
			n++
		}
	}
	return n
}

// writeHookFailures adds a line per failed hook call to the summary.
func writeHookFailures(w io.Writer, r *Report) {
	n := r.HookFailures()
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "%d hook call(s) failed (exit code 3):\n", n)
	for _, h := range r.Hooks {
		if !h.Failed() {
			continue
		}
		where := h.Stage
		if h.Task != "" {
			where += " of " + h.Task
		}
		fmt.Fprintf(w, "  hook %s (%s) at %s: %s %s\n", h.Name, h.Hook, where, strings.ToUpper(h.Result.Value.String()), printable.Text(oneLine(h.Result.Reason)))
	}
}
