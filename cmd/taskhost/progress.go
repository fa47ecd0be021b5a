package main

import (
	"errors"
	"io"

	"github.com/taskhost/taskhost/host/console"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/host/runner"
)

// progress sets the run up to show its progress on stdout (a live view on
// a terminal, plain lines elsewhere), unless stdout carries --json events.
func (o *runOptions) progress(plan *plan.Plan, stdout io.Writer, opts *runner.Options) console.View {
	if o.json {
		return nopView{}
	}
	packs := map[string]string{}
	for _, t := range plan.Job.Tasks {
		packs[t.ID] = t.Pack
	}
	copts := console.Options{Quiet: o.quiet, Verbose: o.verbose, Packs: packs, Tasks: len(plan.Job.Tasks)}
	if o.debug.debug != "" || o.debug.interactive != "" {
		// The terminal is for the debugger's instructions or for the
		// task's questions: no view redrawn over them.
		plain := false
		copts.Live = &plain
	}
	v := console.New(stdout, copts)
	opts.Out, opts.Events = nil, v.Event
	return v
}

// writeSummary prints the summary table that ends a run: with -q, only the
// tasks that did not pass.
func (o *runOptions) writeSummary(w io.Writer, r *results.Report) {
	if o.quiet {
		results.WriteQuietSummary(w, r)
		return
	}
	results.WriteSummary(w, r)
}

// checkVerbosity refuses -q with -v.
func (o *runOptions) checkVerbosity() error {
	if o.quiet && o.verbose {
		return &exitError{exitUsage, errors.New("-q and -v cannot be given together")}
	}
	return nil
}

type nopView struct{}

func (nopView) Event(runner.Event) {}
func (nopView) Close()             {}
