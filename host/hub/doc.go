// Package hub is the run's event hub: an embedded NATS server with
// JetStream that every task process reaches with credentials of its own.
// Tasks publish their result events to a JetStream stream kept in the run
// directory; the hub reads them back, in order and each once, into one
// result tree per task (the ledger), within the limits on what a task may
// send, and watches its store.
//
// The hub also composes the run's state server (host/state): it admits
// the tokens the hub gives out, and the hub's JetStream key/value bucket,
// beside the events, is its record.
//
// Opened to taskhost agents (Config.Agents), the hub listens on a TCP
// address with TLS, which every client not on loopback must use; agents
// authenticate with their nkeys and connection names (agentwire.ConnName),
// are granted the work of the run's classes their labels satisfy, learn
// the run in answer to their Hello, and are kept in a registry (Agents,
// WaitAgents) until they leave or their key is revoked.
//
// On a NATS cluster that the user runs (Config.External), the hub embeds
// no server: the host is a client of the cluster, the run's stream and
// state bucket are replicated over its nodes, and the host admits its
// tasks' tokens and its agents' nkeys through the nodes' auth callout
// (callout.go), with the same permissions as on the embedded server. A
// node may go down during the run and nothing is lost; ReplayCluster
// reads the run's record back from the cluster.
package hub
