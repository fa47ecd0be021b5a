// Package packwire converts between the pack protocol's protobuf messages
// (internal/proto/packv1) and the Go types the host uses, so that the rest
// of the host never sees a protobuf type. It is the one place where a
// field of the wire meets a field of the host; it holds no logic beyond
// that conversion and the checks the conversion needs.
//
// describe.go: a pack's Describe answer as a Description.
// run.go: a call (host/attempt.Call) as a RunRequest, and the
// RunResponse as a Reply.
//
// The result events, which the SDK sends and the hub reads, convert in
// internal/eventwire, which a pack's build holds too; the pack side's
// own conversions are in sdk/internal (packserver, emit).
package packwire
