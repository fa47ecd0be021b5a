package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/runner"
)

// debugFlags are run's --debug and --interactive.
type debugFlags struct {
	debug       string
	dlv         string
	interactive string
}

func (f *debugFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.debug, "debug", "", "start this task's pack under Delve and wait for a debugger to attach (prints how); the other tasks run as usual")
	cmd.Flags().StringVar(&f.dlv, "dlv", "", "the Delve binary for --debug (default: dlv on PATH or in $GOPATH/bin)")
	cmd.Flags().StringVar(&f.interactive, "interactive", "", "connect the terminal's stdin and stdout to this task, for a task that asks questions")
}

// apply checks the flags against the plan and sets them in opts.
func (f *debugFlags) apply(opts *runner.Options, plan *plan.Plan, stderr io.Writer) error {
	for flag, id := range map[string]string{"--debug": f.debug, "--interactive": f.interactive} {
		if id != "" && plan.Job.Task(id) == nil {
			msg := fmt.Sprintf("%s %s: the job has no task %q", flag, id, id)
			if s := jobfile.Suggest(id, taskIDs(plan.Job)); s != "" {
				msg += fmt.Sprintf(". Did you mean %q?", s)
			}
			return &exitError{exitUsage, errors.New(msg)}
		}
	}
	if f.debug != "" && f.debug == f.interactive {
		return &exitError{exitUsage, fmt.Errorf("--debug and --interactive name the same task %q: debug it and give it its input in the debugger, or run it interactively", f.debug)}
	}
	opts.Debugging = runner.Debugging{Debug: f.debug, Interactive: f.interactive, Notices: stderr,
		Stdin: os.Stdin, Stdout: os.Stdout}
	if f.debug != "" {
		dlv, err := runner.FindDelve(f.dlv)
		if err != nil {
			return &exitError{exitUsage, err}
		}
		opts.Debugging.Dlv = dlv
	}
	return nil
}
