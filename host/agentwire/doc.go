// Package agentwire is what the host and its agents say to each other
// over the run's NATS hub: the subjects, stream and consumer names, and
// the shapes of the messages (Work, Claim and Grant, Started, Run, Done,
// Heartbeat, Control and Answer), and how an agent ships log chunks
// (their subject, headers and message id; host/logship). host/remote
// (the host's side) and host/agent (the agent's) import it; nothing a
// pack author sees does.
//
// Each message carries Version, and a side refuses a message of a version
// it does not speak. The messages are JSON for now: they are few, small
// and sent once or a few times per attempt (the events of a task, which
// are many, do not pass through here), and JSON is easy to read in a
// NATS trace while the shapes are still moving. A log chunk, which can
// be many, is not JSON: its data are the file's bytes, and its file and
// offset are headers. They are not yet a promise: an agent and a host of
// different builds may not understand each other, and the encoding may
// become protobuf (as the pack protocol is) once the shapes settle.
package agentwire
