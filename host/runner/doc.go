// Package runner is the library behind `taskhost run` and `taskhost
// validate`: it checks a jobfile against the packs it names, then runs its
// tasks, each in a pack process of its own, and writes the run directory.
package runner
