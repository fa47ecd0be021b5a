package hub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// batch encodes events as a task process sends them.
func batch(evs ...report.Event) []byte {
	var b packv1.EventBatch
	for _, ev := range evs {
		b.Events = append(b.Events, eventwire.ToWire(ev))
	}
	data, err := proto.Marshal(&b)
	if err != nil {
		panic(err)
	}
	return data
}

func startHub(t *testing.T) *Hub {
	t.Helper()
	h, err := Start(Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func TestNoTokenNoConnection(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	for name, opts := range map[string][]nats.Option{
		"no token":  nil,
		"bad token": {nats.Token("not-a-token")},
	} {
		nc, err := nats.Connect(h.URL(), append(opts, nats.MaxReconnects(0))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected to the hub", name)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization error", name, err)
		}
	}
}

// TestTaskCannotPublishAsAnother checks that a task's credentials reach
// only its own subjects.
func TestTaskCannotPublishAsAnother(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	a := h.AddTask("a", 1, "")
	b := h.AddTask("b", 2, "")

	errs := make(chan error, 4)
	nc, err := nats.Connect(a.URL, nats.Token(a.Token), nats.CustomInboxPrefix(a.InboxPrefix),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ev := batch(report.Event{Seq: 1, Kind: report.KindEnd, Result: result.Failed, Time: time.Now()})
	// Its own subject: stored and applied.
	if _, err := js.Publish(ctx, a.EventsSubject, ev, jetstream.WithMsgID(a.MsgIDPrefix+"1")); err != nil {
		t.Fatalf("publish own events: %v", err)
	}
	if err := h.WaitEnded(ctx, 1); err != nil {
		t.Fatalf("own event not applied: %v", err)
	}
	// Another task's subject: refused by the server.
	_ = nc.Publish(b.EventsSubject, ev)
	_ = nc.Flush()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("publish as b: %v, want a permissions violation", err)
		}
	case <-ctx.Done():
		t.Fatal("publishing on another task's subject was not refused")
	}
	// Nor may it listen to everything.
	if _, err := nc.SubscribeSync(">"); err == nil {
		_ = nc.Flush()
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("subscribe >: %v, want a permissions violation", err)
			}
		case <-ctx.Done():
			t.Error("subscribing to every subject was not refused")
		}
	}
	var ended bool
	_ = h.Tree(2, func(tr *report.Tree) { ended = tr.Ended })
	if ended {
		t.Error("task b's tree took an event published with a's credentials")
	}
}

// TestEventsAppliedOnceInOrder publishes a task's events out of order and
// twice each; the tree gets each once, in order.
func TestEventsAppliedOnceInOrder(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	a := h.AddTask("a", 1, "")
	nc, err := nats.Connect(a.URL, nats.Token(a.Token), nats.CustomInboxPrefix(a.InboxPrefix))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	events := []report.Event{
		{Seq: 1, Kind: report.KindStart, ID: "1", Name: "one", Time: now},
		{Seq: 2, Kind: report.KindStart, ID: "1.1", Parent: "1", Name: "inner", Time: now},
		{Seq: 3, Kind: report.KindEnd, ID: "1.1", Result: result.Failed, Reason: "no", Time: now},
		{Seq: 4, Kind: report.KindEnd, ID: "1", Time: now},
		{Seq: 5, Kind: report.KindEnd, Time: now},
	}
	for _, i := range []int{2, 0, 1, 0, 4, 3, 2, 1, 3, 4} {
		b := batch(events[i])
		// A different message id each time, so that JetStream keeps both
		// copies and the tree has to drop the duplicate itself.
		if _, err := js.Publish(ctx, a.EventsSubject, b, jetstream.WithMsgID(a.MsgIDPrefix+time.Now().String())); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.WaitTask(ctx, 1, 5); err != nil {
		t.Fatal(err)
	}
	if err := h.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	_ = h.Tree(1, func(tr *report.Tree) {
		if tr.Count() != 2 || len(tr.Sections) != 1 || len(tr.Sections[0].Sections) != 1 {
			t.Fatalf("tree has %d nodes: %+v", tr.Count(), tr.Sections)
		}
		if got := tr.Sections[0].Result.Value; got != result.Failed {
			t.Errorf("step 1 rolled up to %s, want failed", got)
		}
		if got := tr.Result(); got != result.Failed {
			t.Errorf("task %s, want failed", got)
		}
	})
	h.mu.Lock()
	bad := h.ledger.tasks["t1"].tree.Refused
	h.mu.Unlock()
	if bad != 0 {
		t.Errorf("%d events did not apply: duplicates reached the tree", bad)
	}
}

// A task's processes hold at most maxTaskConns connections to the hub at
// once: the next is refused until one closes. Each connection holds the
// host's memory (the server's buffers for it, up to a whole message).
func TestTaskConnectionsBounded(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	a := h.AddTask("a", 1, "tasks/a")
	connect := func() (*nats.Conn, error) {
		return nats.Connect(a.URL, nats.Token(a.Token), nats.CustomInboxPrefix(a.InboxPrefix), nats.MaxReconnects(0))
	}
	var conns []*nats.Conn
	t.Cleanup(func() {
		for _, nc := range conns {
			nc.Close()
		}
	})
	for i := range maxTaskConns {
		nc, err := connect()
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		conns = append(conns, nc)
	}
	if nc, err := connect(); err == nil {
		nc.Close()
		t.Fatalf("connection %d of one task let in", maxTaskConns+1)
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("connection %d: %v, want an authorization error", maxTaskConns+1, err)
	}
	// Another task is not held to this one's connections.
	b := h.AddTask("b", 2, "tasks/b")
	if nc, err := nats.Connect(b.URL, nats.Token(b.Token), nats.MaxReconnects(0)); err != nil {
		t.Errorf("another task: %v", err)
	} else {
		nc.Close()
	}
	// Once one closes, and the hub has seen it, another is let in.
	conns[0].Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		nc, err := connect()
		if err == nil {
			conns[0] = nc
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection let in 10 s after one closed: %v", err)
		}
	}
}
