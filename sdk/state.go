package sdk

import (
	"context"
	"encoding/json"
	"time"

	"github.com/taskhost/taskhost/sdk/internal/stateclient"
)

// Errors of shared state. Each error a State method returns wraps one of
// these or says what else went wrong.
var (
	// ErrNotFound: the key has no value.
	ErrNotFound = stateclient.ErrNotFound
	// ErrExists: Create found the key already set.
	ErrExists = stateclient.ErrExists
	// ErrConflict: CompareAndSwap's revision is not the key's latest.
	ErrConflict = stateclient.ErrConflict
	// ErrBadKey: a key or name with characters the store does not allow.
	ErrBadKey = stateclient.ErrBadKey
	// ErrTooLarge: a value over MaxValueBytes.
	ErrTooLarge = stateclient.ErrTooLarge
	// ErrNotCounter: Add on a key that holds something other than an
	// integer.
	ErrNotCounter = stateclient.ErrNotCounter
	// ErrNotHolder: Unlock of a lock this process does not hold (it was
	// released already, or its lease ran out and another process took it).
	ErrNotHolder = stateclient.ErrNotHolder
	// ErrBarrier: a barrier used inconsistently (another n, or joined after
	// it was released).
	ErrBarrier = stateclient.ErrBarrier
	// ErrStateFull: the write would take the run's shared state over its
	// limit (the job's max_state_bytes, 64 MiB by default: the bytes of
	// every key and value). Nothing was written; a Delete, or a write
	// that makes a value smaller, makes room.
	ErrStateFull = stateclient.ErrStateFull
	// ErrNoState: the task runs without a host (by hand), so there is no
	// run to share state with.
	ErrNoState = stateclient.ErrNoState
)

// MaxValueBytes is the largest value, as JSON, that the store takes.
const MaxValueBytes = stateclient.MaxValueBytes

// DefaultLease is a lock's lease when Lock is given none.
const DefaultLease = stateclient.DefaultLease

// State is the run's shared state: a key/value store that every task of
// the run and every process they start reaches, with revisions,
// compare-and-set, counters, locks, barriers and watches. Values are any
// Go values that encode as JSON. Get one with T.State.
//
// The host keeps the state and serves it over a Unix socket of the run's;
// each operation is one request and one answer. Every method retries
// through a lost connection until the task's context ends, and applies
// each change once: a counter never loses or doubles an increment, and a
// compare-and-set never applies twice.
type State struct{ c *stateclient.Client }

// Change is one change seen by Watch.
type Change struct {
	Key      string
	Value    json.RawMessage // nil when Deleted
	Revision uint64
	Deleted  bool
}

// Decode decodes the changed value into v.
func (c Change) Decode(v any) error { return json.Unmarshal(c.Value, v) }

// State returns the run's shared state. Its methods use the task's
// context.
func (t *T) State() *State {
	t.run.stateOnce.Do(func() { t.run.state = &State{stateclient.Open(t.ctx, t.run.Hub, t.run.PID)} })
	return t.run.state
}

// Get decodes key's value into v and returns its revision.
func (s *State) Get(key string, v any) (uint64, error) {
	return s.c.Get(key, v)
}

// Put sets key to v, whatever it held, and returns the new revision.
func (s *State) Put(key string, v any) (uint64, error) {
	return s.c.Put(key, v)
}

// Create sets key to v only if it has no value, and returns the new
// revision; ErrExists if it has one.
func (s *State) Create(key string, v any) (uint64, error) {
	return s.c.Create(key, v)
}

// CompareAndSwap sets key to v only if its latest revision is rev, and
// returns the new revision; ErrConflict if it is not.
func (s *State) CompareAndSwap(key string, v any, rev uint64) (uint64, error) {
	return s.c.CompareAndSwap(key, v, rev)
}

// Delete removes key's value. Deleting a key that has none is not an error.
func (s *State) Delete(key string) error {
	return s.c.Delete(key)
}

// Keys lists the keys that have a value and start with prefix, sorted.
func (s *State) Keys(prefix string) ([]string, error) {
	return s.c.Keys(prefix)
}

// Add adds delta to the integer counter at key (absent counts as 0) and
// returns the new value. Concurrent Adds from any number of processes all
// count, each once.
func (s *State) Add(key string, delta int64) (int64, error) {
	return s.c.Add(key, delta)
}

// Watch sends every change to the keys that start with prefix, in order,
// from now until ctx ends; then it closes the channel. Through a lost
// connection it goes on from the last change it sent; if the host no
// longer keeps the changes since (it keeps the last 65,536), the channel
// closes early.
func (s *State) Watch(ctx context.Context, prefix string) (<-chan Change, error) {
	return stateclient.Watch(s.c, ctx, prefix, func(key string, value json.RawMessage, rev uint64) Change {
		return Change{Key: key, Value: value, Revision: rev, Deleted: value == nil}
	})
}

// Lock takes the lock called name, waiting until it is free or the task's
// context ends. lease is how long the lock outlives a holder that died
// without releasing it (0 means DefaultLease); while the holder lives the
// lease is renewed.
func (s *State) Lock(name string, lease time.Duration) (*Lock, error) {
	l, err := s.c.Lock(name, lease)
	if err != nil {
		return nil, err
	}
	return &Lock{l}, nil
}

// Barrier waits until n participants (calls of Barrier, from any process
// of the run) have reached the barrier called name, then lets them all go
// on together. A barrier is used once; every participant must give the
// same n.
func (s *State) Barrier(name string, n int) error {
	return s.c.Barrier(name, n)
}

// Lock is a lock held by this process. Its lease is renewed while the
// process lives; if the process dies, the lock is free again once the
// lease runs out.
type Lock struct{ l *stateclient.Lock }

// Unlock releases the lock; ErrNotHolder if this process no longer holds
// it.
func (l *Lock) Unlock() error { return l.l.Unlock() }

// StateValue is State.Get for a value of type V.
func StateValue[V any](s *State, key string) (V, uint64, error) {
	var v V
	rev, err := s.Get(key, &v)
	return v, rev, err
}
