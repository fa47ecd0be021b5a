package hub

import (
	"context"
	"fmt"
	"math"
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
	// anything else, which is refused too), each counted with
	// MessageBytes more for what the stream stores beside it, so that a
	// flood of small or empty messages is bounded too. Default
	// DefaultTaskBytes; jobfile max_task_bytes.
	TaskBytes int64
	// TaskEvents bounds the events one attempt may send, from all its
	// processes; it bounds the task's tree in the host's memory. Default
	// DefaultTaskEvents; jobfile max_task_events.
	TaskEvents int64
	// EventBytes bounds one event, encoded; at most MaxEventBytes.
	// Default MaxEventBytes; jobfile max_event_bytes.
	EventBytes int64
	// StateBytes bounds the run's shared state, which the host keeps in
	// its memory: the bytes of every key and value. A write that would
	// take it over is refused. Default DefaultStateBytes; jobfile
	// max_state_bytes.
	StateBytes int64
}

// The default limits. A task of 1,000,000 steps (2,000,002 events, some
// 150 MB as sent) is well within them; see docs/jobfile.md for what they
// cost.
const (
	DefaultRunBytes   = 8 << 30
	DefaultTaskBytes  = 1 << 30
	DefaultTaskEvents = 3_000_000
	DefaultStateBytes = 64 << 20
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
	if l.StateBytes == 0 {
		l.StateBytes = DefaultStateBytes
	}
	return l
}

// Check says what is wrong with limits set by hand.
func (l Limits) Check() error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"max_run_bytes", l.RunBytes}, {"max_task_bytes", l.TaskBytes}, {"max_task_events", l.TaskEvents},
		{"max_event_bytes", l.EventBytes}, {"max_state_bytes", l.StateBytes}} {
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

// MessageBytes is what each message a task sends counts for in its
// max_task_bytes beside its payload: about what the stream stores with it
// (its subject, the SDK's message id, the record's own bytes). So a task
// that sends many small or empty messages goes over its limit as one that
// sends large ones does.
const MessageBytes = 128

// limitsNote is the note of the run's limits, the stream's first
// message: the limits and what a message counts for beside its payload
// (a stream written before the hub counted that has none: 0).
type limitsNote struct {
	Limits
	MessageBytes int64 `json:"message_bytes,omitempty"`
}

// How the hub holds tasks to their limits. What goes into a task's
// record is decided by the ledger from the stream alone (ledger.event
// counts each task's bytes and events as it reads them, and a hub_over
// note ends what it takes of a task), so that Replay decides the same.
// But the reader can lag far behind a task that floods the hub, so the
// hub also watches each task's connections as the NATS server counts
// them, every watchEvery, and stops at once a task that:
//
//   - sent more than max_task_bytes (the bytes of the messages the server
//     read from its connections, each with MessageBytes more);
//   - has a connection that sent more than 4,096 messages the hub has
//     not answered yet: the SDK waits for the answer to each batch
//     and has at most 128 unanswered, so only a process that floods the
//     hub without waiting gets there, and what the hub holds for such a
//     connection (the messages it has not stored, the answers it has not
//     sent) is what such a flood costs the host's memory;
//   - leaves more than 4 MiB of the hub's answers unread on its
//     connections.
//
// The server itself closes a connection that leaves more than maxPending
// unread (a slow consumer), and the authenticator lets a task hold at
// most maxTaskConns connections at once. A hub_over note in the stream
// says for the record why a task was stopped.

const (
	// watchEvery is how often the hub looks at what each task has sent.
	watchEvery = 100 * time.Millisecond
	// maxTaskConns bounds the connections a task's processes hold to the
	// hub at once.
	maxTaskConns = 64
)

// sendBounds are the bounds watchSends holds each task's connections to,
// beside max_task_bytes.
type sendBounds struct {
	// unanswered bounds the messages of one connection that the hub has
	// read and not answered.
	unanswered int64
	// unread bounds the bytes of the hub's answers that a task's
	// connections have not read.
	unread int64
}

var defaultSendBounds = sendBounds{unanswered: 4096, unread: 4 << 20}

// noteOver is the hub's note that a task went over a limit.
const noteOver = "hub_over"

// connCount is what a connection had sent when the hub last saw it open,
// and how many looks in a row have missed it since.
type connCount struct {
	bytes, msgs int64
	missed      int
}

// taskSends is what a task's connections sent: those the hub still looks
// at, and the sum of those that closed.
type taskSends struct {
	conns  map[uint64]*connCount
	closed int64
}

// watchSends stops the tasks whose connections sent more than their
// limit, until the hub stops.
func (h *Hub) watchSends() {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	tasks := map[string]*taskSends{}
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		cz, err := h.srv.Connz(&server.ConnzOptions{State: server.ConnOpen, Limit: math.MaxInt32})
		if err != nil {
			continue
		}
		open := make(map[uint64]*server.ConnInfo, len(cz.Conns))
		for _, ci := range cz.Conns {
			open[ci.Cid] = ci
		}
		seen := h.auth.seen()
		for token, ids := range seen {
			ts := tasks[token]
			if ts == nil {
				ts = &taskSends{conns: map[uint64]*connCount{}}
				tasks[token] = ts
			}
			var sent, unread, unanswered int64
			var gone []uint64
			for _, id := range ids {
				c := ts.conns[id]
				if c == nil {
					c = &connCount{}
					ts.conns[id] = c
				}
				if ci := open[id]; ci != nil {
					c.bytes, c.msgs, c.missed = ci.InBytes, ci.InMsgs, 0
					unread += int64(ci.Pending)
					unanswered = max(unanswered, ci.InMsgs-ci.OutMsgs)
				} else if c.missed++; c.missed >= 2 {
					// Closed (a connection opened since the look is
					// missed once): what it sent is final.
					ts.closed += c.bytes + MessageBytes*c.msgs
					delete(ts.conns, id)
					gone = append(gone, id)
					continue
				}
				sent += c.bytes + MessageBytes*c.msgs
			}
			sent += ts.closed
			h.auth.looked(token, gone)
			switch {
			case sent > h.limits.TaskBytes:
				h.stopSender(token, h.limits.overBytes(), "sent_bytes", sent)
			case unanswered > h.bounds.unanswered:
				h.stopSender(token, fmt.Sprintf("sent more than %d messages without waiting for the hub's answers", h.bounds.unanswered),
					"unanswered", unanswered)
			case unread > h.bounds.unread:
				h.stopSender(token, fmt.Sprintf("left more than %d bytes of the hub's answers unread", h.bounds.unread),
					"unread_bytes", unread)
			}
		}
		for token := range tasks {
			if _, ok := seen[token]; !ok {
				delete(tasks, token)
			}
		}
	}
}

// stopSender stops the task whose token went over a limit as the hub saw
// it send: the token is revoked, Watch's contexts are cancelled, and a
// note in the stream makes the record say so, where the ledger reads it.
func (h *Hub) stopSender(token, reason string, what string, n int64) {
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
	h.log.Warn("the task sent more than its limit; revoking its credentials", "task", rec.id, what, n, "reason", reason)
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
