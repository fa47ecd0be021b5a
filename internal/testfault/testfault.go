package testfault

import "time"

// Faults are the faults injected into a run for tests. Production leaves
// it zero, which injects none: only the hidden --test-fault-* flags of
// `taskhost run` set it. The runner hands it to the hub, and the hub to
// its state server.
type Faults struct {
	// DropEvery: after every DropEvery events of a task, the hub
	// disconnects that task's connections; and after every DropEvery
	// requests to the state server, the server disconnects every task's,
	// the one that made the request before its answer. 0 never.
	DropEvery int
	// DropInterval: every DropInterval the hub disconnects every task
	// connection. 0 never.
	DropInterval time.Duration
}
