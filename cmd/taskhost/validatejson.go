package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/hashicorp/hcl/v2"

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
// errors exits with 2, as without -json, and so does a bad command line,
// reported as a diagnostic too.
func validateJSONRun(o *jobOptions, path string, stdout io.Writer) error {
	ctx := context.Background()
	p, diags, err := o.makePlan(ctx, path, false)
	if err != nil {
		return writeValidateJSON(stdout, commandLineDiag(err))
	}
	if !diags.HasErrors() {
		ao, err := o.agents.options()
		if err != nil {
			return writeValidateJSON(stdout, commandLineDiag(err))
		}
		if ao != nil && len(p.Classes) > 0 {
			_, more, err := runner.CheckAgents(ctx, p, ao, nil)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			diags = append(diags, more...)
		}
	}
	return writeValidateJSON(stdout, diags)
}

// commandLineDiag is a bad command line (a -var without =) as a
// diagnostic with no place in a file, as Terraform reports it with -json.
func commandLineDiag(err error) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid command line", Detail: err.Error()}}
}

// writeValidateJSON prints the result and diags as one JSON object; the
// exit code is 2 if there is any error.
func writeValidateJSON(stdout io.Writer, diags hcl.Diagnostics) error {
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
