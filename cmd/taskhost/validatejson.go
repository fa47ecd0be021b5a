package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/runner"
)

// validateOutput is what validate -json prints: Terraform's shape
// (terraform validate -json), so that editors and CI tools that read it
// read this too.
type validateOutput struct {
	FormatVersion string                   `json:"format_version"`
	Valid         bool                     `json:"valid"`
	ErrorCount    int                      `json:"error_count"`
	WarningCount  int                      `json:"warning_count"`
	Diagnostics   []jobfile.JSONDiagnostic `json:"diagnostics"`
}

// validateJSONRun checks the jobfile as validate does and prints the
// result and the diagnostics as one JSON object on stdout. A jobfile with
// errors exits with 2, as without -json; a bad command line is reported on
// stderr as text.
func validateJSONRun(o *jobOptions, path string, stdout io.Writer) error {
	ctx := context.Background()
	p, diags, err := o.makePlan(ctx, path, false)
	if err != nil {
		return err
	}
	if !diags.HasErrors() {
		ao, err := o.agents.options()
		if err != nil {
			return err
		}
		if ao != nil && len(p.Classes) > 0 {
			_, more, err := runner.CheckAgents(ctx, p, ao, nil)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			diags = append(diags, more...)
		}
	}
	out := validateOutput{
		FormatVersion: "1.0",
		Valid:         !diags.HasErrors(),
		ErrorCount:    jobfile.ErrorCount(diags),
		WarningCount:  jobfile.WarningCount(diags),
		Diagnostics:   jobfile.DiagnosticsJSON(nil, diags),
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return &exitError{exitFailure, err}
	}
	if !out.Valid {
		return &exitError{code: exitUsage}
	}
	return nil
}
