package hub

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestStoreFailsAndWritesAgain: when a write to the run directory fails,
// the hub says so at once, refuses the tasks' batches quickly (rather than
// leaving them unanswered), holds its notes, and keeps the state's changes
// for later; it starts its store again, says so, stores the held notes,
// and reads on: a task's batch sent before, refused during, and sent again
// after, is applied once, with those that follow.
func TestStoreFailsAndWritesAgain(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []StoreEvent
	seen := make(chan struct{}, 8)
	h, err := Start(Config{StoreDir: t.TempDir(), OnStore: func(e StoreEvent) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
		seen <- struct{}{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	h.mu.Lock()
	h.ledger.keepNotes = true // the live hub keeps none; this test reads them
	h.mu.Unlock()
	access := h.AddTask("a", 1, "")
	nc, err := nats.Connect(access.URL, nats.Token(access.Token), nats.CustomInboxPrefix(access.InboxPrefix))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := func(seq uint64, id string) error {
		ev := report.Event{Seq: seq, Kind: report.KindStart, ID: id, Name: "step " + id, Type: report.TypeStep, Time: time.Now()}
		_, err := js.Publish(ctx, access.EventsSubject, batch(ev), jetstream.WithMsgID(access.MsgIDPrefix+"main."+id))
		return err
	}
	if err := send(1, "1"); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	h.WriteFailed(errors.New("write /x/job.log: no space left on device"))
	select {
	case <-seen:
	case <-ctx.Done():
		t.Fatal("no word of the store failing")
	}
	// The store is started again at once here (the disk has room): what
	// happened while it was down is checked through what it left.
	if err := h.WaitStore(ctx); err != nil {
		t.Fatalf("the store does not write again: %v", err)
	}
	<-seen
	mu.Lock()
	if len(got) != 2 || !got[0].Failing || got[1].Failing || !strings.Contains(got[0].Err.Error(), "no space left on device") {
		t.Errorf("store events %+v, want failing (no space left on device), then writing again", got)
	}
	mu.Unlock()
	if err := h.StoreTrouble(before); err == nil || !strings.Contains(err.Error(), "could not write for") {
		t.Errorf("StoreTrouble = %v, want the failure that ended", err)
	}
	if err := h.StoreTrouble(time.Now()); err != nil {
		t.Errorf("StoreTrouble since now = %v, want none", err)
	}

	// Sent again (the first) and new: applied once each, in order.
	for i, id := range []string{"1", "2", "3"} {
		if err := send(uint64(i+1), id); err != nil {
			t.Fatalf("event %s after the store came back: %v", id, err)
		}
	}
	if err := h.WaitTask(ctx, 1, 3); err != nil {
		t.Fatalf("the hub does not read on: %v", err)
	}
	_ = h.Tree(1, func(tr *report.Tree) {
		if len(tr.Sections) != 3 {
			t.Errorf("%d steps, want 3, each once", len(tr.Sections))
		}
	})
	// A note stored after it came back is in the stream, after the one
	// the hub keeps of the failure.
	if err := h.Note(ctx, Note{Kind: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	var kinds []string
	for _, n := range h.ledger.notes {
		kinds = append(kinds, n.Kind)
	}
	h.mu.Unlock()
	if strings.Join(kinds, " ") != NoteStore+" x" {
		t.Errorf("notes %v, want the store's, then x", kinds)
	}
}

// TestStoreDownHoldsNotesAndRefusesBatches: while the store cannot write
// (and cannot start again: the hub is not let to try), a task's batch is
// refused at once, a note is held (ErrStoreFailing), and the run's state
// changes wait for the store without holding up EndTask.
func TestStoreDownHoldsNotesAndRefusesBatches(t *testing.T) {
	t.Parallel()
	down := make(chan struct{}, 1)
	h, err := Start(Config{StoreDir: t.TempDir(), StoreWait: time.Hour, OnStore: func(e StoreEvent) {
		if e.Failing {
			down <- struct{}{}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	// Keep the watch from starting the store again: it waits for room.
	h.store.mu.Lock()
	h.store.dir = "/proc" // a file system with no free space
	h.store.mu.Unlock()
	access := h.AddTask("a", 1, "")
	h.WriteFailed(errors.New("no space left on device"))
	<-down

	nc, err := nats.Connect(access.URL, nats.Token(access.Token), nats.CustomInboxPrefix(access.InboxPrefix))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	ev := report.Event{Seq: 1, Kind: report.KindEnd, Result: result.Passed, Time: time.Now()}
	if _, err := js.Publish(ctx, access.EventsSubject, batch(ev)); err == nil {
		t.Error("a batch was acknowledged while the store cannot write")
	}
	if err := h.Note(ctx, Note{Kind: "x"}); !errors.Is(err, ErrStoreFailing) {
		t.Errorf("Note: %v, want ErrStoreFailing", err)
	}
	_ = h.SeedState(ctx, map[string]json.RawMessage{"k": json.RawMessage(`1`)})
	h.EndTask("a")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing a batch, holding a note and keeping the state took %s: something waited for the store", d)
	}
	h.store.mu.Lock()
	held := len(h.store.held)
	h.store.mu.Unlock()
	if held != 1 {
		t.Errorf("%d notes held, want 1", held)
	}
}

func TestStoreTroubleTold(t *testing.T) {
	t.Parallel()
	for msg, want := range map[string]bool{
		"JetStream failed to store a msg on stream '$G > EVENTS': write /r/hub/jetstream/$G/streams/EVENTS/msgs/1.blk: no space left on device": true,
		"Filestore [EVENTS] Critical write error: write /r/1.blk: input/output error":                                                           true,
		"JetStream out of file resources, will be DISABLED":                                                                                     true,
		"JetStream file resource limits exceeded for server":                                                                                    true,
		"cid:5 - \"v1.55.0:go:task a\" - Maximum Payload Violation":                                                                             false,
		"Client connection closed: Write Error":                                                                                                 false,
	} {
		if got := storeMessage(msg); got != want {
			t.Errorf("storeMessage(%q) = %v, want %v", msg, got, want)
		}
	}
	for err, want := range map[error]bool{
		context.DeadlineExceeded:      true,
		jetstream.ErrNoStreamResponse: true,
		nats.ErrMaxPayload:            false,
		// The stream at max_run_bytes is the run's limit, not the disk.
		&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "maximum bytes exceeded"}:                  false,
		&jetstream.APIError{Code: 503, ErrorCode: 10077, Description: "write /r/1.blk: no space left on device"}: true,
		&jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"}:                  true,
	} {
		if got := isStoreTrouble(err); got != want {
			t.Errorf("isStoreTrouble(%v) = %v, want %v", err, got, want)
		}
	}
	if m := osErrorText.FindString("JetStream failed to store a msg on stream '$G > EVENTS': write /r/1.blk: no space left on device"); m != "write /r/1.blk: no space left on device" {
		t.Errorf("the file system's error is %q", m)
	}
}
