// Package statebridge carries the state protocol (internal/statekv)
// between the tasks an agent runs and the host's state server, over the
// run's NATS hub, so that a task on an agent shares the run's state with
// every other task through the one server, with the SDK unchanged.
//
// On the agent, a Front serves a Unix socket (in a directory of its own,
// mode 0700) that the agent gives its tasks as their state socket. It
// forwards each frame of each connection as a request on the agent's
// state subject (agentwire.Names.State), naming the connection, and
// writes the answer back. It never makes an answer up: when none comes
// within statekv.MaxWait and a margin, it closes the task's connection,
// and the SDK sends the same request again on a new one, which the server
// answers from its record if it applied it already.
//
// On the host, a Responder keeps one connection to the host's state
// socket per connection of each agent's Front and relays the frames, so
// the server checks each task's token as it does for a local task. It
// closes them when the Front says the connection ended, when it has been
// idle for long, and when the agent is removed.
//
// A watch is pumped: once the server accepted it, the Responder sends its
// change frames to an inbox of the Front's, numbered, with a keepalive
// carrying the last number while none comes. On a number missing, or
// silence, the Front closes the task's watching connection, and the SDK
// opens it again from the last revision it saw.
//
// What the two sides say to each other is not yet a promise: a Front and
// a Responder of different builds may not understand each other.
package statebridge
