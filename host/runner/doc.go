// Package runner executes a run's plan (host/plan) behind `taskhost run`:
// it makes the run directory and the hub, schedules the tasks (retries,
// Blocked, max_parallel), runs the hooks at their stages, has each
// attempt run by host/attempt, and writes the run's record and reports.
// Recover rebuilds the record of a run whose host died.
package runner
