package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/results"
)

// selectRerun narrows plan to the tasks that did not pass in the run ref
// (a run directory, an archive, or a run id under runsDir), and those they
// depend on, and says on w what runs and what is left out. A task of the
// jobfile that the old run did not have runs too: it has not passed
// there. It returns false when nothing is left to run.
func selectRerun(plan *plan.Plan, ref, runsDir string, w io.Writer) (bool, error) {
	old, where, err := openRun(ref, runsDir)
	if err != nil {
		return false, err
	}
	rep := &old.Report
	if rep.Name != plan.Job.Name {
		fmt.Fprintf(w, "warning: %s is a run of job %q, this jobfile's job is %q\n", where, rep.Name, plan.Job.Name)
	}
	before := map[string]*results.Task{}
	for _, t := range rep.Tasks {
		before[t.ID] = t
	}
	chosen := map[string]bool{}
	left := plan.Select(func(id string) bool {
		t, ok := before[id]
		chosen[id] = !ok || !t.Result.Value.Success()
		return chosen[id]
	})
	var again, deps []string
	for _, t := range plan.Job.Tasks {
		if chosen[t.ID] {
			why := "new"
			if t := before[t.ID]; t != nil {
				why = t.Result.Value.String()
			}
			again = append(again, t.ID+" ("+why+")")
		} else {
			deps = append(deps, t.ID)
		}
	}
	fmt.Fprintf(w, "Rerun of %s (%s)\n", rep.ID, where)
	if len(again) == 0 {
		fmt.Fprintf(w, "Every task passed there: nothing to run again.\n")
		return false, nil
	}
	fmt.Fprintf(w, "  running again, as they did not pass: %s\n", strings.Join(again, ", "))
	if len(deps) > 0 {
		fmt.Fprintf(w, "  running, as they depend on them:     %s\n", strings.Join(deps, ", "))
	}
	if len(left) > 0 {
		fmt.Fprintf(w, "  skipped, as they passed there:       %s\n", strings.Join(left, ", "))
	}
	return true, nil
}

// summaryOut is where run writes what is not an event: stdout, or stderr
// when stdout carries --json events.
func summaryOut(o *runOptions, stdout, stderr io.Writer) io.Writer {
	if o.json {
		return stderr
	}
	return stdout
}

// usageErr is a bad command line's error, or nil.
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{exitUsage, err}
}
