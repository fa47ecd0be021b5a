package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/runner"
)

// failFastOptions are run's flags that stop starting tasks after
// failures, as pytest's -x and --maxfail.
type failFastOptions struct {
	failFast bool
	maxFail  int
}

func (o *failFastOptions) addFailFastFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&o.failFast, "fail-fast", "x", false, "start no more tasks after the first one that does not pass (those running go on to their end; the others end Blocked)")
	cmd.Flags().IntVar(&o.maxFail, "max-fail", 0, "start no more tasks after N tasks did not pass (0: no limit)")
}

// checkFailFast refuses a negative --max-fail, and --fail-fast with
// another --max-fail than 1.
func (o *failFastOptions) checkFailFast() error {
	switch {
	case o.maxFail < 0:
		return usageErr(fmt.Errorf("--max-fail %d: want 0 (no limit) or more", o.maxFail))
	case o.failFast && o.maxFail > 1:
		return usageErr(fmt.Errorf("--fail-fast is --max-fail 1: give one of them"))
	}
	return nil
}

// setFailFast sets the limit in the runner's options.
func (o *failFastOptions) setFailFast(opts *runner.Options) {
	switch {
	case o.failFast:
		opts.MaxFail, opts.MaxFailName = 1, "--fail-fast"
	case o.maxFail > 0:
		opts.MaxFail, opts.MaxFailName = o.maxFail, fmt.Sprintf("--max-fail %d", o.maxFail)
	}
}
