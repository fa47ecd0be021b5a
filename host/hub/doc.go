// Package hub is the run's message hub: an embedded NATS server with
// JetStream that every task process reaches with credentials of its own.
// Tasks publish their result events to a JetStream stream kept in the run
// directory; the hub reads them back, in order and each once, into one
// result tree per task.
package hub
