package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/runner"
)

// maxStdinVarFile bounds what -var-file - reads from standard input.
const maxStdinVarFile = 16 << 20

// stdinVars reads standard input for a var file named "-", if one is
// given: at most once, and at most maxStdinVarFile bytes.
func stdinVars(varFiles []string, stdin io.Reader) ([]byte, error) {
	n := 0
	for _, f := range varFiles {
		if f == jobfile.StdinVarFile {
			n++
		}
	}
	switch {
	case n == 0:
		return nil, nil
	case n > 1:
		return nil, &exitError{exitUsage, errors.New("-var-file - is given more than once: standard input can be read once")}
	}
	if stdin == nil {
		stdin = os.Stdin
	}
	b, err := io.ReadAll(io.LimitReader(stdin, maxStdinVarFile+1))
	if err != nil {
		return nil, &exitError{exitUsage, fmt.Errorf("-var-file -: read standard input: %w", err)}
	}
	if len(b) > maxStdinVarFile {
		return nil, &exitError{exitUsage, fmt.Errorf("-var-file -: standard input holds more than %d bytes, the most read for variables", maxStdinVarFile)}
	}
	return b, nil
}

// checkAccess checks the flags about who reads the run and where run
// reads from, before anything runs.
func (o *runOptions) checkAccess() error {
	if o.group != "" {
		if _, err := runner.LookupGroup(o.group); err != nil {
			return &exitError{exitUsage, fmt.Errorf("--group: %w", err)}
		}
	}
	if o.debug.interactive != "" && slices.Contains(o.varFiles, jobfile.StdinVarFile) {
		return &exitError{exitUsage, errors.New("-var-file - reads standard input, which --interactive gives to a task: give the variables in a file")}
	}
	return nil
}
