// Command taskhost runs HCL jobfiles of tasks, each in a task pack process
// of its own. See docs/getting-started.md.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

func main() {
	// A Go runtime fatal error (out of memory, a stack overflow) and a
	// panic no code recovers exit with 2 by default, the code of a bad
	// command line or jobfile. With this, the runtime prints every
	// goroutine's stack and aborts with SIGABRT instead, which no one can
	// mistake for a diagnostic; a panic of the main goroutine is recovered
	// below and exits with exitPanic.
	debug.SetTraceback("crash")
	// The host keeps every task's result tree until the run ends. A soft
	// memory limit keeps its footprint steady on large runs (the garbage
	// collector works harder near it); GOMEMLIMIT overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	startHeapProfile(os.Getenv(testHeapProfileEnv))
	os.Exit(mainExit(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultMemoryLimit is the host's soft memory limit when GOMEMLIMIT is
// not set.
const defaultMemoryLimit = 128 << 20

// mainExit is Main, with a panic of the calling goroutine turned into the
// exit code exitPanic, after its message and stack on stderr. Deferred
// clean-ups (a run's socket directory, its packs) have run by then.
func mainExit(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "taskhost: internal error (a bug in taskhost; please report it with what follows): panic: %v\n\n%s", r, debug.Stack())
			code = exitPanic
		}
	}()
	testCrash(os.Getenv(testCrashEnv))
	return Main(args, stdout, stderr)
}

// testCrashEnv names an environment variable that makes taskhost crash at
// start, for its own tests of the exit codes: "panic" panics in the main
// goroutine (exit code exitPanic), "goroutine" in another one, and
// "fatal" overflows the stack, a runtime fatal error (both abort with
// SIGABRT).
const testCrashEnv = "TASKHOST_TEST_CRASH"

func testCrash(how string) {
	switch how {
	case "panic":
		panic(testCrashEnv + "=panic")
	case "goroutine":
		// The panic ends the process from its own goroutine; this one waits
		// for that and never goes on (a deferred close would let it).
		go func() { panic(testCrashEnv + "=goroutine") }()
		select {}
	case "fatal":
		debug.SetMaxStack(1 << 20)
		var recurse func(n int) int
		recurse = func(n int) int { return recurse(n+1) + 1 }
		recurse(0)
	}
}
