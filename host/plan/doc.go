// Package plan makes a run's plan: it loads a jobfile, finds its packs
// and checks them against the lock, reads each pack's description (from a
// cache kept by the binary's SHA-256, or by starting the pack), checks the
// arguments of every task and hook against it, and selects the tasks to
// run. host/runner executes the Plan it makes.
package plan
