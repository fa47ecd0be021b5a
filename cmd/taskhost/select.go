package main

import (
	"fmt"
	"io"
	"path"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/plan"
)

// selectOptions are run's flags that choose which tasks to run.
type selectOptions struct {
	tasks []string
	list  bool
}

func (o *selectOptions) addSelectFlags(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&o.tasks, "task", nil, "run only the tasks whose id matches PATTERN (a glob: * ? [..]; or an exact id like ping[\"r1\"]; or the name of a task block, for all its instances), and what they depend on (repeatable)")
	cmd.Flags().BoolVar(&o.list, "list", false, "print the tasks that would run, after expansion and --task, and run nothing")
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

// selectTasks narrows the plan to --task and prints it for --list. done
// is true when nothing is to run.
func (o *selectOptions) selectTasks(plan *plan.Plan, stdout, stderr io.Writer) (done bool, err error) {
	if len(o.tasks) > 0 {
		for _, p := range o.tasks {
			if _, err := path.Match(p, ""); err != nil {
				return true, &exitError{exitUsage, fmt.Errorf("--task %q: %w", p, err)}
			}
		}
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
			return true, &exitError{exitUsage, fmt.Errorf("--task %s: no task matches", strings.Join(o.tasks, ", "))}
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
