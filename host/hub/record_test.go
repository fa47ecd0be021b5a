package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/internal/statekv/statekvtest"
	"github.com/taskhost/taskhost/sdk/result"
)

// taskConn connects to the hub with a task's credentials.
func taskConn(t *testing.T, a attempt.HubAccess, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(a.URL, append([]nats.Option{nats.Token(a.Token), nats.CustomInboxPrefix(a.InboxPrefix)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// rawTaskConn connects to the hub with a task's credentials and speaks
// the NATS protocol by hand: it subscribes to the task's inbox, and reads
// nothing after the server's first line. It connects in-process, so that
// no socket buffer takes what the server sends.
func rawTaskConn(t *testing.T, h *Hub, a attempt.HubAccess) net.Conn {
	t.Helper()
	c, err := h.srv.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil { // INFO
		t.Fatal(err)
	}
	connect, _ := json.Marshal(map[string]any{"auth_token": a.Token, "verbose": false, "pedantic": false})
	if _, err := fmt.Fprintf(c, "CONNECT %s\r\nSUB %s.x 1\r\n", connect, a.InboxPrefix); err != nil {
		t.Fatal(err)
	}
	return c
}

// replayTree rebuilds slot's tree from the hub's store, once the hub is
// closed.
func replayTree(t *testing.T, h *Hub, dir string, slot int) *report.Tree {
	t.Helper()
	h.Close()
	rec, err := Replay(dir)
	if err != nil {
		t.Fatal(err)
	}
	tree := rec.Trees[slot]
	if tree == nil {
		t.Fatalf("Replay has no tree for slot %d", slot)
	}
	return tree
}

var sameTree = []cmp.Option{cmpopts.IgnoreUnexported(report.Node{}), cmpopts.EquateApproxTime(0)}

// Every event is checked on the way in: what fails (data that is not JSON,
// a message that is not an event batch, a log file outside the task's
// directory) is refused, counted in the task's tree with the reason, and
// the rest applies; Replay refuses the same.
func TestBadEventsRefusedLiveAndInReplay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, err := Start(Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a := h.AddTask("a", 1, "tasks/a")
	_, js := taskConn(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := time.Now()
	bad := report.Event{Seq: 2, Kind: report.KindEnd, ID: "1", Result: result.Passed, Time: now}
	badLog := report.Event{Seq: 4, Kind: report.KindEnd, ID: "2", Result: result.Passed, Time: now,
		Logs: &report.LogRef{File: "tasks/b/task.log", Size: 1}}
	wBad := eventwire.ToWire(bad)
	wBad.Data = []byte(`{"a":`)
	b, _ := (&packv1.EventBatch{Events: []*packv1.Event{
		eventwire.ToWire(report.Event{Seq: 1, Kind: report.KindStart, ID: "1", Name: "one", Time: now}), wBad,
		eventwire.ToWire(report.Event{Seq: 3, Kind: report.KindStart, ID: "2", Name: "two", Time: now}), eventwire.ToWire(badLog),
		eventwire.ToWire(report.Event{Seq: 5, Kind: report.KindEnd, Result: result.Passed, Time: now}),
	}}).MarshalVT()
	for _, msg := range [][]byte{b, []byte("not an event batch")} {
		if _, err := js.Publish(ctx, a.EventsSubject, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var live *report.Tree
	_ = h.Tree(1, func(tr *report.Tree) { live = tr })
	if live.Refused != 3 || !live.Ended || live.Count() != 2 {
		t.Fatalf("live tree: %d refused (%q), ended %v, %d nodes; want 3, true, 2", live.Refused, live.Problems, live.Ended, live.Count())
	}
	for i, want := range []string{"event 2: data is not JSON", `log file "tasks/b/task.log" is not in the task's directory tasks/a`, "a message of 18 bytes is not an event batch"} {
		if !strings.Contains(live.Problems[i], want) {
			t.Errorf("problem %d = %q, want %q", i, live.Problems[i], want)
		}
	}
	if f := live.Fault(); !strings.HasPrefix(f, "refused 3 events from the task; the first: event 2: data is not JSON") {
		t.Errorf("Fault = %q", f)
	}
	if err := h.Seal(ctx, 1, Close{Result: result.Errored, Reason: "step never ended", At: now}); err != nil {
		t.Fatal(err)
	}
	replayed := replayTree(t, h, dir, 1)
	if replayed.Refused != live.Refused || !cmp.Equal(replayed.Problems, live.Problems) {
		t.Errorf("Replay refused %d %q, live %d %q", replayed.Refused, replayed.Problems, live.Refused, live.Problems)
	}
	if d := cmp.Diff(live.Sections, replayed.Sections, sameTree...); d != "" {
		t.Errorf("Replay's tree differs from the live one (-live +replay):\n%s", d)
	}
}

// When an attempt ends, Seal revokes its token (no new connection to the
// hub or the state server, the open ones closed) and seals its record in
// the stream: whatever reaches the stream for it later is taken neither
// live nor by Replay, and both close its open steps the same way.
func TestSealEndsTheAttempt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, err := Start(Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	a := h.AddTask("a", 1, "tasks/a")
	nc, js := taskConn(t, a, nats.MaxReconnects(-1), nats.ReconnectWait(10*time.Millisecond))
	sc, p := statekvtest.Dial(t, a.StateSocket, a.Token, "1/w")
	if p.Status != statekv.StatusOK {
		t.Fatalf("state hello: %c %s", p.Status, p.Msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	now := time.Now()
	for _, ev := range []report.Event{
		{Seq: 1, Kind: report.KindStart, ID: "1", Name: "done", Time: now},
		{Seq: 2, Kind: report.KindEnd, ID: "1", Result: result.Passed, Time: now},
		{Seq: 3, Kind: report.KindStart, ID: "2", Name: "open", Time: now},
	} {
		if _, err := js.Publish(ctx, a.EventsSubject, batch(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.WaitTask(ctx, 1, 3); err != nil {
		t.Fatal(err)
	}
	if err := h.Seal(ctx, 1, Close{Result: result.Errored, Reason: "step never ended", At: now.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}

	// The token is worthless now, on both servers.
	if nc2, err := nats.Connect(a.URL, nats.Token(a.Token), nats.MaxReconnects(0)); err == nil {
		nc2.Close()
		t.Error("the sealed attempt's token still connects to the hub")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect with the sealed token: %v, want an authorization error", err)
	}
	for deadline := time.Now().Add(10 * time.Second); nc.IsConnected(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the sealed attempt's connection to the hub is still open")
		}
	}
	if _, err := js.Publish(ctx, a.EventsSubject, batch(report.Event{Seq: 4, Kind: report.KindEnd, ID: "2", Time: now}),
		jetstream.WithRetryAttempts(0)); err == nil {
		t.Error("the sealed attempt's connection published an event")
	}
	_ = sc.C.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := sc.R.ReadByte(); err == nil {
		t.Error("the sealed attempt's state connection is still open")
	}
	if _, p := statekvtest.Dial(t, a.StateSocket, a.Token, "1/w2"); p.Status != statekv.StatusDenied {
		t.Errorf("state hello with the sealed token: %c %s, want denied", p.Status, p.Msg)
	}

	// Whatever still reaches the stream for the slot (here sent by the
	// host's own connection, which needs no token) is taken by neither.
	late := batch(report.Event{Seq: 4, Kind: report.KindEnd, ID: "2", Result: result.Passed, Time: now},
		report.Event{Seq: 5, Kind: report.KindStart, ID: "3", Name: "late", Time: now})
	if _, err := h.js.Publish(ctx, a.EventsSubject, late); err != nil {
		t.Fatal(err)
	}
	if err := h.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var live []*report.Node
	_ = h.Tree(1, func(tr *report.Tree) { live = tr.Sections })
	if len(live) != 2 || live[1].Result.Value != result.Errored || live[1].Result.Reason != "step never ended" {
		t.Fatalf("live tree after the seal: %+v; want two steps, the open one closed Errored", live)
	}
	replayed := replayTree(t, h, dir, 1)
	if d := cmp.Diff(live, replayed.Sections, sameTree...); d != "" {
		t.Errorf("Replay's tree differs from the live one (-live +replay):\n%s", d)
	}
}

// A task that sends more than its limits is stopped: the context of Watch
// ends with the reason, its token is revoked, nothing more is taken, and
// Replay records the same. Each shape of flood is stopped: too many
// events, too many bytes, empty messages (each counts MessageBytes),
// messages sent without waiting for the hub's answers, and answers left
// unread.
func TestOverLimitStopsTheTask(t *testing.T) {
	t.Parallel()
	small := func(seq uint64) []byte {
		return batch(report.Event{Seq: seq, Kind: report.KindStart, ID: fmt.Sprint(seq), Name: "s", Time: time.Now()})
	}
	tests := map[string]struct {
		limits Limits
		bounds sendBounds
		send   func(ctx context.Context, t *testing.T, h *Hub, a attempt.HubAccess, nc *nats.Conn)
		want   string
	}{
		"events": {
			limits: Limits{TaskEvents: 1024, TaskBytes: 1 << 20},
			send: func(_ context.Context, t *testing.T, _ *Hub, a attempt.HubAccess, nc *nats.Conn) {
				for seq := uint64(1); seq <= 1100; seq++ {
					_ = nc.Publish(a.EventsSubject, small(seq))
				}
				_ = nc.Flush()
			},
			want: "sent more than 1024 events (max_task_events)",
		},
		"bytes of garbage": {
			limits: Limits{TaskBytes: 64 << 10},
			send: func(_ context.Context, t *testing.T, _ *Hub, a attempt.HubAccess, nc *nats.Conn) {
				for range 10 {
					_ = nc.Publish(a.EventsSubject, make([]byte, 16<<10))
				}
				_ = nc.Flush()
			},
			want: "sent more than 65536 bytes of events (max_task_bytes)",
		},
		"empty messages": {
			limits: Limits{TaskBytes: 64 << 10},
			send: func(_ context.Context, t *testing.T, _ *Hub, a attempt.HubAccess, nc *nats.Conn) {
				for range 1000 {
					_ = nc.Publish(a.EventsSubject, nil)
				}
				_ = nc.Flush()
			},
			want: "sent more than 65536 bytes of events (max_task_bytes)",
		},
		"messages not waiting for answers": {
			send: func(_ context.Context, t *testing.T, _ *Hub, a attempt.HubAccess, nc *nats.Conn) {
				for seq := uint64(1); seq <= 5000; seq++ {
					_ = nc.Publish(a.EventsSubject, small(seq))
				}
				_ = nc.Flush()
			},
			want: "sent more than 4096 messages without waiting for the hub's answers",
		},
		"answers not read": {
			// Only this bound, 200 KiB of answers left unread.
			bounds: sendBounds{unanswered: 1 << 40, unread: 200 << 10},
			send: func(ctx context.Context, t *testing.T, h *Hub, a attempt.HubAccess, _ *nats.Conn) {
				c := rawTaskConn(t, h, a)
				context.AfterFunc(ctx, func() { c.Close() }) // its processes end when it is stopped
				// 10,000 answers, some 900 KB; then one more every 50 ms
				// until the hub closes the connection.
				one := []byte(fmt.Sprintf("PUB %s %s.x 1\r\nx\r\n", a.EventsSubject, a.InboxPrefix))
				for i := 0; ; i++ {
					ask, pause := bytes.Repeat(one, 500), 5*time.Millisecond
					if i >= 20 {
						ask, pause = one, 50*time.Millisecond
					}
					if _, err := c.Write(ask); err != nil {
						return // closed: stopped
					}
					time.Sleep(pause)
				}
			},
			want: "left more than 204800 bytes of the hub's answers unread",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			h, err := Start(Config{StoreDir: dir, Limits: tc.limits, sendBounds: tc.bounds})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			a := h.AddTask("a", 1, "tasks/a")
			wctx, unwatch := h.Watch(context.Background(), 1)
			defer unwatch()
			nc, _ := taskConn(t, a)
			go tc.send(wctx, t, h, a, nc)
			select {
			case <-wctx.Done():
			case <-time.After(20 * time.Second):
				t.Fatal("the task was not stopped")
			}
			var le *LimitError
			if cause := context.Cause(wctx); !errors.As(cause, &le) || le.Reason != tc.want {
				t.Errorf("the task was stopped with %v, want %q", cause, tc.want)
			}
			for deadline := time.Now().Add(10 * time.Second); nc.IsConnected(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the task's connection is still open")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := h.Seal(ctx, 1, Close{Result: result.Aborted, Reason: tc.want, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
			var live *report.Tree
			_ = h.Tree(1, func(tr *report.Tree) { live = tr })
			if live.Over != tc.want || tc.limits.TaskEvents > 0 && int64(live.Count()) > tc.limits.TaskEvents {
				t.Errorf("live tree: over %q, %d nodes", live.Over, live.Count())
			}
			replayed := replayTree(t, h, dir, 1)
			if replayed.Over != live.Over || replayed.Count() != live.Count() {
				t.Errorf("Replay: over %q, %d nodes; live: over %q, %d nodes", replayed.Over, replayed.Count(), live.Over, live.Count())
			}
		})
	}
}
