package hub

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Limits bound what the tasks of a run may send to the hub, and so what
// the run's stream in hub/ and the host's memory hold. A task attempt
// that goes over one is stopped, its credentials revoked, and it ends
// Errored, "sent more than …". The zero value of a field means its
// default; the jobfile's job block sets them (docs/jobfile.md).
type Limits struct {
	// RunBytes bounds the run's stream: every task's events and the
	// host's notes. The stream refuses what would take it over (every
	// task's publishes then fail), so it is the bound on hub/ whatever the
	// tasks do; the per-task limits below keep one task from filling it.
	// It is also kept under what the disk can hold when the run starts
	// (three quarters of its free space, as JetStream counts).
	// Default DefaultRunBytes; jobfile max_run_bytes.
	RunBytes int64
	// TaskBytes bounds what one attempt of a task may send: the bytes of
	// every message published with its credentials (event batches, and
	// anything else, which is refused too), as stored. Default
	// DefaultTaskBytes; jobfile max_task_bytes.
	TaskBytes int64
	// TaskEvents bounds the events one attempt may send, from all its
	// processes; it bounds the task's tree in the host's memory. Default
	// DefaultTaskEvents; jobfile max_task_events.
	TaskEvents int64
	// EventBytes bounds one event, encoded; at most MaxEventBytes.
	// Default MaxEventBytes; jobfile max_event_bytes.
	EventBytes int64
}

// The default limits. A task of 1,000,000 steps (2,000,002 events, some
// 150 MB as sent) is well within them; see docs/jobfile.md for what they
// cost.
const (
	DefaultRunBytes   = 8 << 30
	DefaultTaskBytes  = 1 << 30
	DefaultTaskEvents = 3_000_000
	// MaxEventBytes is the largest event the SDK sends: it replaces
	// larger step data with a note that it dropped it.
	MaxEventBytes = 512 << 10
	// messageBytes is the largest message the hub takes (NATS's default
	// payload limit): a batch of events, at most 64 KiB of events and one
	// event of up to MaxEventBytes.
	messageBytes = 1 << 20
	// minLimit is the least any limit may be set to.
	minLimit = 1024
)

// withDefaults fills in the zero fields.
func (l Limits) withDefaults() Limits {
	if l.RunBytes == 0 {
		l.RunBytes = DefaultRunBytes
	}
	if l.TaskBytes == 0 {
		l.TaskBytes = DefaultTaskBytes
	}
	if l.TaskEvents == 0 {
		l.TaskEvents = DefaultTaskEvents
	}
	if l.EventBytes == 0 {
		l.EventBytes = MaxEventBytes
	}
	return l
}

// Check says what is wrong with limits set by hand.
func (l Limits) Check() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"max_run_bytes", l.RunBytes}, {"max_task_bytes", l.TaskBytes}, {"max_task_events", l.TaskEvents}, {"max_event_bytes", l.EventBytes}} {
		if f.v != 0 && f.v < minLimit {
			return fmt.Errorf("%s is %d, less than the least of %d", f.name, f.v, minLimit)
		}
	}
	if l.EventBytes > MaxEventBytes {
		return fmt.Errorf("max_event_bytes is %d, more than the most of %d", l.EventBytes, MaxEventBytes)
	}
	return nil
}

// overBytes and overEvents are the reasons of a task that went over.
func (l Limits) overBytes() string {
	return fmt.Sprintf("sent more than %d bytes of events (max_task_bytes)", l.TaskBytes)
}

func (l Limits) overEvents() string {
	return fmt.Sprintf("sent more than %d events (max_task_events)", l.TaskEvents)
}

// How the hub holds tasks to their limits. What goes into a task's
// record is decided by the ledger from the stream alone (ledger.event
// counts each task's bytes and events as it reads them, and a hub_over
// note ends what it takes of a task), so that Replay decides the same.
// But the reader can lag far behind a task that floods the hub, so the
// hub also watches what each task's connections send, as the NATS server
// counts it (the bytes of the messages it read from them), every
// watchEvery: a task over max_task_bytes there is stopped at once, and a
// hub_over note in the stream says so for the record.

// watchEvery is how often the hub looks at what each task has sent.
const watchEvery = 100 * time.Millisecond

// noteOver is the hub's note that a task went over a limit.
const noteOver = "hub_over"

// watchSends stops the tasks whose connections sent more than their
// limit, until the hub stops.
func (h *Hub) watchSends() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		for token, ids := range h.auth.seen() {
			var sent int64
			for _, id := range ids {
				if cz, err := h.srv.Connz(&server.ConnzOptions{CID: id, State: server.ConnAll}); err == nil && len(cz.Conns) == 1 {
					sent += cz.Conns[0].InBytes
				}
			}
			if sent > h.limits.TaskBytes {
				h.sentTooMuch(token, sent)
			}
		}
	}
}

// sentTooMuch stops the task whose token sent more than max_task_bytes:
// the token is revoked, Watch's contexts are cancelled, and a note in the
// stream makes the record say so, where the ledger reads it.
func (h *Hub) sentTooMuch(token string, sent int64) {
	reason := h.limits.overBytes()
	h.mu.Lock()
	var rec *taskRec
	var slot int
	for tok, r := range h.ledger.tasks {
		if r.token == token {
			rec = r
			slot, _ = strconv.Atoi(strings.TrimPrefix(tok, "t"))
		}
	}
	if rec == nil || rec.stopped {
		h.mu.Unlock()
		return
	}
	h.log.Warn("the task sent more than its limit; revoking its credentials", "task", rec.id, "sent_bytes", sent, "reason", reason)
	h.stopTask(rec, reason)
	h.mu.Unlock()
	h.revoke(token)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Note(ctx, Note{Kind: noteOver, Task: rec.id, Slot: slot, Data: mustJSON(reason)}); err != nil {
		h.log.Warn("the note that the task went over its limit not stored", "task", rec.id, "error", err)
	}
}

// overLimit is called, under h.mu, when the ledger found that a task
// attempt went over one of its limits: its credentials are revoked, and
// it is stopped.
func (h *Hub) overLimit(rec *taskRec) {
	if rec.stopped {
		return
	}
	h.log.Warn("the task went over its limits; revoking its credentials", "task", rec.id, "reason", rec.tree.Over,
		"bytes", rec.bytes, "events", rec.read)
	h.stopTask(rec, rec.tree.Over)
	if rec.token != "" {
		go h.revoke(rec.token)
	}
}

// stopTask cancels the contexts of Watch of a task that went over a
// limit, under h.mu.
func (h *Hub) stopTask(rec *taskRec, reason string) {
	rec.stopped, rec.stopReason = true, reason
	for _, stop := range rec.stops {
		stop(reason)
	}
	rec.stops = nil
}

// LimitError is the cause of a context of Watch that the task's limits
// ended.
type LimitError struct{ Reason string }

func (e *LimitError) Error() string { return e.Reason }

// Watch returns a context derived from ctx that is cancelled, with a
// *LimitError as its cause, when the attempt in slot index goes over one
// of its limits; cancel releases it.
func (h *Hub) Watch(ctx context.Context, index int) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := h.ledger.task(fmt.Sprintf("t%d", index))
	stop := func(reason string) { cancel(&LimitError{Reason: reason}) }
	if rec.stopped {
		stop(rec.stopReason)
	} else {
		rec.stops = append(rec.stops, stop)
	}
	return wctx, func() { cancel(context.Canceled) }
}
