// Package statekv is the layout of the run's shared state in its JetStream
// key/value bucket, shared by the SDK (which reads and writes it) and the
// host (which seeds it from the jobfile and records it at the end).
package statekv

import "encoding/json"

// Envelope is what the bucket holds for a key: the value, and for writes
// that must apply once, the last such write of each writer, so that a
// writer whose acknowledgement was lost can tell whether its write applied.
type Envelope struct {
	V json.RawMessage  `json:"v"`
	W map[string]OpRec `json:"w,omitempty"`
}

// OpRec is a writer's last once-only write to a key.
type OpRec struct {
	Seq uint64 `json:"s"`
	// R is the counter's value right after the write, for Add.
	R int64 `json:"r,omitempty"`
}

// Reserved starts the keys of the store's own records (locks, barriers);
// user keys may not start with it.
const Reserved = "_"

// Bucket is the name of a run's bucket.
func Bucket(runKey string) string { return "state_" + runKey }
