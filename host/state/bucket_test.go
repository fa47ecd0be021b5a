package state

import (
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// recordBucket is a Bucket that keeps each key's last written value. Its
// first hold writes wait for release; its first fail writes fail, asking
// to write again soon (as the hub's bucket does on a cluster while the
// bucket has no leader).
type recordBucket struct {
	mu      sync.Mutex
	values  map[string]string
	writes  int
	hold    int
	fail    int
	held    chan struct{} // closed when a write waits for release
	release chan struct{}
	wrote   chan struct{} // gets a value at each write that is not held
}

func newRecordBucket() *recordBucket {
	return &recordBucket{values: map[string]string{}, held: make(chan struct{}), release: make(chan struct{}), wrote: make(chan struct{}, 100)}
}

func (b *recordBucket) Write(changes []Change) ([]Change, bool) {
	if len(changes) == 0 {
		return nil, false // a write of nothing (the journal's, beside a Flush) is not counted
	}
	b.mu.Lock()
	b.writes++
	n := b.writes
	b.mu.Unlock()
	if n <= b.hold {
		close(b.held)
		<-b.release
	} else {
		b.wrote <- struct{}{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n <= b.fail {
		return changes, true
	}
	for _, c := range changes {
		b.values[c.Key] = string(c.Value)
	}
	return nil, false
}

func (b *recordBucket) value(key string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.values[key]
}

// TestStateWritesBucketInOrder: a write to the bucket that takes long (a
// cluster changing leaders) and a later one of the same key do not store
// the older value last: the record has the key's latest value.
func TestStateWritesBucketInOrder(t *testing.T) {
	b := newRecordBucket()
	b.hold = 1
	s := start(t, Config{Bucket: b})
	if err := s.Seed(map[string]json.RawMessage{"c": json.RawMessage("1")}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Flush() }() // writes c=1, held
	<-b.held
	if err := s.Seed(map[string]json.RawMessage{"c": json.RawMessage("2")}); err != nil {
		t.Fatal(err)
	}
	go func() { defer wg.Done(); s.Flush() }() // c=2
	// The first write is let go once the second is written, or (the
	// second waiting for the first) a little later.
	select {
	case <-b.wrote:
	case <-time.After(300 * time.Millisecond):
	}
	close(b.release)
	wg.Wait()
	if got := b.value("c"); got != "2" {
		t.Errorf("the bucket holds c=%s, want the latest value 2", got)
	}
}

// TestStateCloseWritesLastChangesAgain: at Close, changes the bucket
// could not record, and asks to write again soon, are written again until
// it records them.
func TestStateCloseWritesLastChangesAgain(t *testing.T) {
	b := newRecordBucket()
	b.fail = 3
	s := start(t, Config{Bucket: b})
	if err := s.Seed(map[string]json.RawMessage{"c": json.RawMessage("400")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := b.value("c"); got != "400" {
		t.Errorf("the bucket holds c=%q after Close, want 400", got)
	}
}
