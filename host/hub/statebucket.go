package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/state"
	"github.com/taskhost/taskhost/internal/statekv"
)

// stateBucket is the state server's record in the run's store: the
// hub's JetStream key/value bucket, each key's latest value in a
// statekv.Envelope (which Replay reads back).
type stateBucket struct {
	h   *Hub
	log hclog.Logger
}

// Write writes the changes to the bucket. While the store cannot write,
// the changes wait for it, and a write that finds it failing (no answer
// within the bound) leaves the rest for then: the record is written
// behind, and no write holds up the task that ended or the run.
func (b *stateBucket) Write(changes []state.Change) ([]state.Change, bool) {
	gen, down := b.h.storeGen()
	if down {
		return changes, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, c := range changes {
		var err error
		if c.Value == nil {
			err = b.h.kv.Delete(ctx, c.Key)
		} else {
			v, _ := json.Marshal(statekv.Envelope{V: c.Value})
			_, err = b.h.kv.Put(ctx, c.Key, v)
		}
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			b.log.Warn("state not recorded in the bucket", "key", c.Key, "error", err)
			if isStoreTrouble(err) {
				// Lost to a failure that is over: again, soon.
				again := !b.h.troubleAt(gen, fmt.Errorf("record the shared state: %w", err))
				return changes[i:], again
			}
		}
	}
	return nil, false
}
