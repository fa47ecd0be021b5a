// Package statekv is what the SDK and the host share about the run's
// shared state: the state protocol that task processes speak to the
// host's state server (wire.go), the rules for keys and values, and the
// layout of the record that the host keeps of the state in the run's
// JetStream key/value bucket.
package statekv

import "encoding/json"

// Envelope is what the bucket holds for a key: its value as JSON. (An
// object rather than the bare value, so that fields can be added.)
type Envelope struct {
	V json.RawMessage `json:"v"`
}

// Reserved starts the keys of the store's own records (locks, barriers);
// user keys may not start with it.
const Reserved = "_"

// MaxValueBytes is the largest value, as JSON, that the store takes.
const MaxValueBytes = 512 << 10

// Bucket is the name of a run's bucket.
func Bucket(runKey string) string { return "state_" + runKey }
