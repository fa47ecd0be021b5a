package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/results"
)

// selectOptions are run's flags that choose which tasks to run.
type selectOptions struct {
	tasks []string
	skip  []string
	list  bool
}

func (o *selectOptions) addSelectFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.tasks, "task", nil, "run only the tasks whose id matches PATTERN (a glob: * ? [..]; or an exact id like ping[\"r1\"]; or the name of a task block, for all its instances), and what they depend on (repeatable)")
	cmd.Flags().StringArrayVar(&o.skip, "skip", nil, "run none of the tasks whose id matches PATTERN (as --task), nor the tasks that depend on them (repeatable)")
	cmd.Flags().BoolVar(&o.list, "list", false, "print the tasks that would run, after expansion, --task and --skip, and run nothing")
}

// matchTask reports whether the task id matches pattern: the id itself,
// the name of its block (ping for ping["r1"]), or a glob of path.Match.
func matchTask(pattern, id string) (bool, error) {
	if pattern == id {
		return true, nil
	}
	if base, _, ok := strings.Cut(id, "["); ok && pattern == base {
		return true, nil
	}
	return path.Match(pattern, id)
}

// selectTasks narrows the plan to --task and --skip and prints it for
// --list. done is true when nothing is to run.
func (o *selectOptions) selectTasks(plan *plan.Plan, stdout, stderr io.Writer) (done bool, err error) {
	for _, p := range append(slices.Clip(o.tasks), o.skip...) {
		if _, err := path.Match(p, ""); err != nil {
			return true, &exitError{exitUsage, fmt.Errorf("--task or --skip %q: %w", p, err)}
		}
	}
	names := taskNames(plan.Job)
	if len(o.tasks) > 0 {
		chosen := 0
		plan.Select(func(id string) bool {
			for _, p := range o.tasks {
				if ok, _ := matchTask(p, id); ok {
					chosen++
					return true
				}
			}
			return false
		})
		if chosen == 0 {
			return true, &exitError{exitUsage, noMatch("--task", o.tasks, names)}
		}
	}
	if len(o.skip) > 0 {
		if err := o.skipTasks(plan, names, stderr); err != nil {
			return true, err
		}
	}
	if !o.list {
		return false, nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TASK\tPACK\tPACK TASK\tDEPENDS ON")
	for _, t := range plan.Job.Tasks {
		deps := strings.Join(t.DependsOn, ", ")
		if deps == "" {
			deps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Pack, t.Task, deps)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d tasks\n", len(plan.Job.Tasks))
	return true, nil
}

// skipTasks drops the tasks --skip matches from the plan, and those that
// depend on them, saying so for each of the latter (as Terraform's
// -exclude does).
func (o *selectOptions) skipTasks(plan *plan.Plan, names []string, stderr io.Writer) error {
	matched := map[string]bool{}
	for _, t := range plan.Job.Tasks {
		for _, p := range o.skip {
			if ok, _ := matchTask(p, t.ID); ok {
				matched[t.ID] = true
			}
		}
	}
	if len(matched) == 0 {
		return &exitError{exitUsage, noMatch("--skip", o.skip, names)}
	}
	// A task is skipped with the first dependency of it that is.
	because := map[string]string{}
	for changed := true; changed; {
		changed = false
		for _, t := range plan.Job.Tasks {
			if matched[t.ID] || because[t.ID] != "" {
				continue
			}
			for _, d := range t.DependsOn {
				if matched[d] || because[d] != "" {
					because[t.ID], changed = d, true
					break
				}
			}
		}
	}
	for _, t := range plan.Job.Tasks {
		if d := because[t.ID]; d != "" {
			fmt.Fprintf(stderr, "--skip: %s is skipped too: it depends on %s\n", t.ID, d)
		}
	}
	plan.Select(func(id string) bool { return !matched[id] && because[id] == "" })
	return nil
}

// noMatch is the error of a --task or --skip that matches no task, with
// the closest task name or id to the first pattern.
func noMatch(flag string, patterns, names []string) error {
	msg := fmt.Sprintf("%s %s: no task matches", flag, strings.Join(patterns, ", "))
	if s := jobfile.Suggest(patterns[0], names); s != "" {
		msg += fmt.Sprintf(". Did you mean %q?", s)
	}
	return errors.New(msg)
}

// runTaskSuggestion is ". Did you mean ID?" for a task id that is not one
// of the run's (its results.json, or the task directories of a run
// without one), or "" when the id is one of them or none is close.
func runTaskSuggestion(runDir, task string) string {
	var ids []string
	if f, err := results.Read(filepath.Join(runDir, "results.json")); err == nil {
		for _, t := range f.Report.Tasks {
			ids = append(ids, t.ID)
		}
	} else {
		entries, _ := os.ReadDir(filepath.Join(runDir, "tasks"))
		for _, e := range entries {
			ids = append(ids, e.Name())
		}
	}
	if slices.Contains(ids, task) {
		return ""
	}
	if s := jobfile.Suggest(task, ids); s != "" {
		return fmt.Sprintf(". Did you mean %q?", s)
	}
	return ""
}
