// Package hub is the run's message hub: an embedded NATS server with
// JetStream that every task process reaches with credentials of its own.
// Tasks publish their result events to a JetStream stream kept in the run
// directory; the hub reads them back, in order and each once, into one
// result tree per task.
//
// The hub also runs the run's state server (state.go): the shared state,
// kept in the host's memory and served to task processes on a Unix
// socket, with each key's latest value written behind to a JetStream
// key/value bucket beside the events.
package hub
