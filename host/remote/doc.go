// Package remote is the host's side of running an attempt on an agent.
// Starter implements attempt.Starter: it puts the pack's binary into the
// hub's packs store by its SHA-256 (host/packstore), publishes the
// attempt's Work, which names that hash, to the run's work-queue stream
// (one durable pull consumer per placement class), grants the work to
// the first agent that claims it, and waits until that agent started the
// pack. The Pack it returns relays the call, its cancellation, WaitExit
// and the kills to that agent, so that attempt.Runner runs a remote
// attempt as it runs a local one: its timeout, grace, seal and record
// stay the host's. An agent that has not named a work in its heartbeats
// for Config.AgentTimeout is lost: the call then fails, and WaitExit says
// "agent NAME lost".
//
// With Config.StateSocket, it also answers the agents' state bridges
// (host/statebridge), for the tasks of the work each was granted only.
// With Config.Logs, each call's log files are shipped into its log
// directory in the run directory (host/logship), and are all there once
// Run (or, for a call Run left, Kill) returns.
//
// The run's hub is the one authority on who runs a work; the agent's
// side is host/agent, and what they say to each other is host/agentwire.
// The runner does not use this package yet.
package remote
