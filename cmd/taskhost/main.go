// Command taskhost runs HCL jobfiles of tasks, each in a task pack process
// of its own. See docs/getting-started.md.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	// The host keeps every task's result tree until the run ends. A soft
	// memory limit keeps its footprint steady on large runs (the garbage
	// collector works harder near it); GOMEMLIMIT overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultMemoryLimit is the host's soft memory limit when GOMEMLIMIT is
// not set.
const defaultMemoryLimit = 128 << 20
