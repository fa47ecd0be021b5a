// Package agent is the agent's loop: it connects to a run's hub, says it
// is there (a heartbeat naming the work it runs), fetches one work
// message per free slot from the consumers of its placement classes,
// claims each from the host, starts its pack with host/launch (the same
// code as the host: process group, cgroup, Supervisor, pinned hash),
// makes the call when the host says so, and reports how it returned
// (sending the report again until the host answers). When it has not
// heard the host for its host timeout it kills every pack of the run.
//
// Its tasks reach the run's shared state through the agent's state bridge
// (host/statebridge): the call's state socket is the bridge's. Each call
// writes its log files in a directory of the agent's own
// (Config.WorkDir), which, when the host takes them, is shipped to the
// host's run directory (host/logship) before the call's end is reported;
// a pack the host asks it to kill has its logs shipped before the agent
// answers, while one it kills by itself (the host not heard, the agent
// stopping) stops shipping at once.
//
// It fetches each pack binary from the hub's packs store by the SHA-256
// the work names, into its cache (host/packstore), which checks the hash
// and the binary's platform before the pack starts. It takes the run to
// serve from Config.RunKey; no command runs it yet. The host's side is
// host/remote, and what they say to each other is host/agentwire.
package agent
