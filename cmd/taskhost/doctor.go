package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/doctor"
)

type doctorOptions struct {
	runsDir string
}

func newDoctorCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor [JOBFILE]",
		Short: "Check that this machine has what taskhost needs, and say how to fix what it lacks",
		Long: `Check what taskhost needs: a directory for the packs' Unix sockets that it
can make private (mode 0700) and that has room for a socket path, free space
and write access where run directories go, a hub that starts, and installed
packs that match the lock file (taskhost.lock.hcl next to JOBFILE, or in the
current directory). Each failed check says what is wrong and how to fix it.

taskhost run does the same checks, but the hub's, before it starts.

Exit codes: 0 every check passed or was skipped; 1 some check failed.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := doctor.Config{RunsDir: o.runsDir, Hub: true}
			if len(args) == 1 {
				cfg.LockDir = filepath.Dir(args[0])
			}
			checks := doctor.Run(cfg)
			doctor.Write(stdout, checks)
			if doctor.AnyFailed(checks) {
				return &exitError{code: exitNotAll, err: fmt.Errorf("some checks failed; fix them as said above")}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.runsDir, "runs-dir", "runs", "the directory run directories go in")
	return cmd
}

// preflight runs the quick checks before a run; a failed one stops the run
// with what is wrong and how to fix it.
func preflight(runsDir string, stderr io.Writer) error {
	checks := doctor.Run(doctor.Config{RunsDir: runsDir, NoLock: true})
	if !doctor.AnyFailed(checks) {
		return nil
	}
	var failed []doctor.Check
	for _, c := range checks {
		if c.Status == doctor.Failed {
			failed = append(failed, c)
		}
	}
	fmt.Fprintln(stderr, "taskhost cannot run here:")
	doctor.Write(stderr, failed)
	return &exitError{exitFailure, fmt.Errorf("preflight failed: %d check(s); nothing ran (see `taskhost doctor`)", len(failed))}
}
