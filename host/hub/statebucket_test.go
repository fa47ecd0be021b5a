package hub

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/internal/statekv/statekvtest"
)

// The state server is host/state's, tested there; these tests are of
// the hub's part: the tokens it admits, the bucket it records the state
// in, Replay, and the run's limit.

// taskState connects to the hub's state server as a process of an
// attempt of task, in slot index.
func taskState(t *testing.T, h *Hub, task string, index int) *statekvtest.Client {
	t.Helper()
	creds := h.AddTask(task, index, "")
	sc, p := statekvtest.Dial(t, creds.StateSocket, creds.Token, "1/w")
	if p.Status != statekv.StatusOK {
		t.Fatalf("hello: %c %s", p.Status, p.Msg)
	}
	return sc
}

// TestStateRecordedInBucket: the bucket in the run directory holds each
// key's latest value (and not deleted keys) once the changes are written
// behind.
func TestStateRecordedInBucket(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	if err := h.SeedState(context.Background(), map[string]json.RawMessage{"seeded": []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	c := taskState(t, h, "a", 1)
	for i, q := range []statekv.Request{
		{Op: statekv.OpPut, Key: "k", Value: []byte(`1`)},
		{Op: statekv.OpPut, Key: "k", Value: []byte(`2`)},
		{Op: statekv.OpPut, Key: "gone", Value: []byte(`3`)},
		{Op: statekv.OpDelete, Key: "gone"},
	} {
		q.ID = uint64(i + 1)
		if p := c.Do(q); p.Status != statekv.StatusOK {
			t.Fatalf("%+v: %+v", q, p)
		}
	}
	h.state.Flush()
	ctx := context.Background()
	for key, want := range map[string]string{"seeded": `{"a":1}`, "k": `2`} {
		e, err := h.kv.Get(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var env statekv.Envelope
		if err := json.Unmarshal(e.Value(), &env); err != nil || string(env.V) != want {
			t.Errorf("%s in the bucket: %s (%v), want %s", key, e.Value(), err, want)
		}
	}
	if _, err := h.kv.Get(ctx, "gone"); err == nil {
		t.Error("a deleted key is still in the bucket")
	}
	st, _ := h.State(ctx)
	if len(st) != 2 || string(st["k"]) != "2" {
		t.Errorf("state %v", st)
	}
}

// TestStateReplayed: Replay, which rebuilds a run after its host died,
// reads the state's record too.
func TestStateReplayed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, err := Start(Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SeedState(context.Background(), map[string]json.RawMessage{"seeded": []byte(`"s"`)}); err != nil {
		t.Fatal(err)
	}
	c := taskState(t, h, "a", 1)
	c.Do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 3})
	c.Do(statekv.Request{Op: statekv.OpLock, Key: "m", Holder: "A", Dur: time.Minute})
	h.EndTask("a")
	h.Close()
	rec, err := Replay(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.State) != 2 || string(rec.State["seeded"]) != `"s"` || string(rec.State["n"]) != "3" {
		t.Errorf("replayed state %v, want seeded and n, without the lock", rec.State)
	}
}

// TestStateBoundedBySize: the state block's values are held to the
// run's max_state_bytes too (host/state's TestStateBoundedBySize holds
// the tasks' writes to it).
func TestStateBoundedBySize(t *testing.T) {
	t.Parallel()
	h2, err := Start(Config{StoreDir: t.TempDir(), Limits: Limits{StateBytes: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h2.Close)
	err = h2.SeedState(context.Background(), map[string]json.RawMessage{"a": json.RawMessage(strings.Repeat("1", 2000))})
	if err == nil || !strings.Contains(err.Error(), "max_state_bytes") {
		t.Errorf("seed over the limit: %v, want an error naming max_state_bytes", err)
	}
}
