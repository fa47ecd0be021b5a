// Package statekv is the layout of the run's shared state in its JetStream
// key/value bucket, shared by the SDK (which reads and writes it) and the
// host (which seeds it from the jobfile and records it at the end).
package statekv

import "encoding/json"

// Envelope is what the bucket holds for a key: the value, and for writes
// that must apply once, each writer's last such writes (up to KeepOps), so
// that a writer whose acknowledgement was lost can tell whether its write
// applied.
type Envelope struct {
	V json.RawMessage    `json:"v"`
	W map[string][]OpRec `json:"w,omitempty"`
}

// KeepOps is how many of a writer's once-only writes an envelope keeps:
// more than one process's goroutines are likely to have in flight at once.
const KeepOps = 16

// Find returns writer's record of write seq, if the envelope has it.
func (e Envelope) Find(writer string, seq uint64) (OpRec, bool) {
	for _, r := range e.W[writer] {
		if r.Seq == seq {
			return r, true
		}
	}
	return OpRec{}, false
}

// Record adds writer's write r, keeping the last KeepOps.
func (e *Envelope) Record(writer string, r OpRec) {
	if e.W == nil {
		e.W = map[string][]OpRec{}
	}
	ops := append(e.W[writer], r)
	if len(ops) > KeepOps {
		ops = ops[len(ops)-KeepOps:]
	}
	e.W[writer] = ops
}

// OpRec is one once-only write of a writer to a key.
type OpRec struct {
	Seq uint64 `json:"s"`
	// R is the counter's value right after the write, for Add.
	R int64 `json:"r,omitempty"`
}

// Reserved starts the keys of the store's own records (locks, barriers);
// user keys may not start with it.
const Reserved = "_"

// MaxValueBytes is the largest value, as JSON, that the store takes.
const MaxValueBytes = 512 << 10

// Bucket is the name of a run's bucket.
func Bucket(runKey string) string { return "state_" + runKey }
