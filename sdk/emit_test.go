package sdk

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/result"
)

// silentHub starts a NATS server where every batch on the events subject
// is taken and never acknowledged (a store that cannot write and says
// nothing), and returns what a task needs to report to it.
func silentHub(t *testing.T) *packv1.Hub {
	t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe("ev", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &packv1.Hub{Url: srv.ClientURL(), EventsSubject: "ev", InboxPrefix: "_in.t1", MsgIdPrefix: "t1.x."}
}

// within runs fn and fails the test if it has not returned after d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still waits after %s", what, d)
	}
}

// TestEmitGivesUpOnASilentHub: a task that reports to a hub that never
// acknowledges anything is not held forever: once the hub acknowledged
// nothing for ackWait, emit stops waiting (what follows is dropped), and
// flush returns at once with the error and the last event stored.
func TestEmitGivesUpOnASilentHub(t *testing.T) {
	old := ackWait
	ackWait = 300 * time.Millisecond
	t.Cleanup(func() { ackWait = old })

	em, err := dialHub(silentHub(t), "silent", "")
	if err != nil {
		t.Fatal(err)
	}
	defer em.close()
	within(t, 20*time.Second, "emit", func() {
		for i := 0; i < 100_000; i++ {
			em.emit(report.Event{Kind: report.KindStart, ID: "1", Name: "a step", Type: report.TypeStep})
		}
	})
	var last uint64
	within(t, 20*time.Second, "flush", func() { last, err = em.flush(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "not acknowledged by the hub: none acknowledged for 300ms") ||
		!strings.Contains(err.Error(), "later events were not sent") {
		t.Fatalf("flush: %v, want the hub's silence and the events dropped", err)
	}
	if last != 0 {
		t.Errorf("flush says event %d is the last stored; the hub stored none", last)
	}
}

// TestFlushGivesUpOnASilentHub: flush with a context that never ends
// still returns, once the hub acknowledged nothing for ackWait.
func TestFlushGivesUpOnASilentHub(t *testing.T) {
	old := ackWait
	ackWait = 300 * time.Millisecond
	t.Cleanup(func() { ackWait = old })

	em, err := dialHub(silentHub(t), "silent", "")
	if err != nil {
		t.Fatal(err)
	}
	defer em.close()
	for i := 0; i < 10; i++ {
		em.emit(report.Event{Kind: report.KindStart, ID: "1", Name: "a step", Type: report.TypeStep})
	}
	within(t, 20*time.Second, "flush", func() { _, err = em.flush(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "events from 1 on not acknowledged by the hub") {
		t.Fatalf("flush: %v, want events from 1 on not acknowledged", err)
	}
}

// TestLogLinesLost: lines of a step's log that cannot be written (a full
// disk: /dev/full) make the step's record Errored with the reason, and
// the task's; the task goes on with its next steps as it would have.
func TestLogLinesLost(t *testing.T) {
	t.Parallel()
	f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full here:", err)
	}
	lf := &logFile{f: f, rel: "tasks/x/task.log"}
	defer lf.Close()
	em := newMemEmitter()
	rs := &runState{taskID: "x", emit: em, pid: 1, log: lf}
	logger := hclog.New(&hclog.LoggerOptions{Output: lf, Level: hclog.Info})
	r, reason := runTask(context.Background(), rs, logger, func(t *T) {
		t.Step("logs", func(t *T) { t.Log("a line") })
		t.Step("fails", func(t *T) {
			t.Log("a line")
			t.Failf("on purpose")
		}, Continue)
		t.Step("next", func(t *T) {})
	})
	const full = "not written to tasks/x/task.log: no space left on device"
	if r != result.Errored || !strings.Contains(reason, full) {
		t.Errorf("task: %s %q, want Errored and %q", r, reason, full)
	}
	got := simplify(em.tree.Sections)
	if len(got) != 3 {
		t.Fatalf("%d steps, want 3 (the task goes on): %+v", len(got), got)
	}
	for _, s := range got[:2] {
		if s.Result != result.Errored || !strings.Contains(s.Reason, full) {
			t.Errorf("step %s: %s %q, want Errored and %q", s.Name, s.Result, s.Reason, full)
		}
	}
	if !strings.HasSuffix(got[1].Reason, "; on purpose") {
		t.Errorf("step fails: reason %q does not keep its own", got[1].Reason)
	}
}
