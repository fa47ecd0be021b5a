package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/sdk/result"
)

// ledger is what has been read from a run's stream: the notes, and each
// task's result tree. The live hub and Replay fill it the same way, from
// the same messages in the same order, so that what one takes into a
// task's record the other does too: what is valid (report.Check), what
// goes over a task's limits, and what came after the task's attempt was
// sealed, all follow from the stream alone.
type ledger struct {
	tasks map[string]*taskRec // by subject token ("t<index>")
	// notes are the runner's notes, kept if keepNotes (Replay's record;
	// the live host has them already).
	notes     []Note
	keepNotes bool
	mask      *mask.Masker // nil in Replay
	// limits are the run's, from the hub's first note; a stream written
	// before the hub kept limits has none, and no bound is applied.
	// msgBytes is what each message counts for beside its payload.
	limits   Limits
	msgBytes int64
	// start is when the stream's first message was stored: no event of
	// the run is much older.
	start time.Time
	// spool, if set, gives each task's tree the spool it spills its
	// sections into (report.Tree.Spill); the live hub's and Replay's
	// trees spill alike, so that they take the same events.
	spool func(tok string) report.Spool
	// onOver, if set, is called (once per task attempt) when one goes
	// over a limit.
	onOver func(*taskRec)
}

func (l *ledger) task(tok string) *taskRec {
	rec := l.tasks[tok]
	if rec == nil {
		rec = &taskRec{tree: report.NewTree()}
		if l.spool != nil {
			rec.tree.Spill = l.spool(tok)
		}
		l.tasks[tok] = rec
	}
	return rec
}

// The hub's own notes, beside the runner's: the run's limits (the
// stream's first message), a slot given to a task attempt, the seal of a
// slot whose attempt ended, and (noteOver, limits.go) a task stopped for
// going over a limit.
const (
	noteLimits = "hub_limits"
	noteSlot   = "hub_slot"
	noteSeal   = "hub_seal"
)

// slotNote is a slot's note: where its task's log files are.
type slotNote struct {
	LogDir string `json:"log_dir,omitempty"`
}

// Close says how a sealed attempt's steps still open are closed.
type Close struct {
	Result result.Result `json:"result"`
	Reason string        `json:"reason,omitempty"`
	At     time.Time     `json:"at"`
}

// Slack on an event's time: it may be this much older than the run's
// first message, or later than when the hub stored it (the clock can be
// set while a run goes on).
const timeSlack = time.Hour

// apply reads one message with its subject and the time the stream stored
// it: "th.<run>.note" is a note, "th.<run>.ev.<token>" a message of that
// task. It returns the task the message was for, if any, and an error for
// a message that is refused (the task's record notes it too).
func (l *ledger) apply(subject string, data []byte, stored time.Time) (*taskRec, error) {
	if l.start.IsZero() {
		l.start = stored
	}
	parts := strings.Split(subject, ".")
	switch {
	case len(parts) == 3 && parts[2] == "note":
		var n Note
		if err := json.Unmarshal(data, &n); err != nil {
			return nil, err
		}
		return l.note(n)
	case len(parts) == 4 && parts[2] == "ev":
		return l.event(parts[3], data, stored)
	}
	return nil, fmt.Errorf("unexpected subject %q", subject)
}

// note applies a note: the hub's own, or one of the runner's, kept.
func (l *ledger) note(n Note) (*taskRec, error) {
	switch n.Kind {
	case noteLimits:
		var ln limitsNote
		if err := json.Unmarshal(n.Data, &ln); err != nil {
			return nil, err
		}
		l.limits, l.msgBytes = ln.Limits, ln.MessageBytes
		return nil, nil
	case noteSlot:
		var sn slotNote
		if len(n.Data) > 0 {
			if err := json.Unmarshal(n.Data, &sn); err != nil {
				return nil, err
			}
		}
		rec := l.task("t" + strconv.Itoa(n.Slot))
		rec.id, rec.logDir = n.Task, sn.LogDir
		return rec, nil
	case noteOver:
		var reason string
		if err := json.Unmarshal(n.Data, &reason); err != nil {
			return nil, err
		}
		rec := l.task("t" + strconv.Itoa(n.Slot))
		if !rec.sealed && rec.tree.Over == "" {
			l.over(rec, reason)
		}
		return rec, nil
	case noteSeal:
		var c Close
		if err := json.Unmarshal(n.Data, &c); err != nil {
			return nil, err
		}
		rec := l.task("t" + strconv.Itoa(n.Slot))
		rec.seal(c)
		return rec, nil
	}
	if l.keepNotes {
		l.notes = append(l.notes, n)
	}
	return nil, nil
}

// seal ends what the slot takes: the events still waiting for an earlier
// one are applied (the processes are gone; see report.Tree.Settle), the
// steps still open are closed as c says, and nothing later is taken.
func (rec *taskRec) seal(c Close) {
	if rec.sealed {
		return
	}
	rec.sealed = true
	rec.tree.Settle()
	rec.tree.CloseOpen(c.Result, c.Reason, c.At)
	rec.tree.Seal() // nothing more is added: its indexes go
}

// errSealed refuses a message sent after its task's attempt ended.
var errSealed = errors.New("sent after the task's attempt ended")

// event applies a message a task published: an EventBatch, each of whose
// events is checked and applied to the task's tree, within the task's
// limits.
func (l *ledger) event(tok string, data []byte, stored time.Time) (*taskRec, error) {
	rec := l.task(tok)
	if rec.sealed {
		rec.late++
		return rec, errSealed
	}
	if rec.tree.Over != "" {
		return rec, nil // refused, and said so once
	}
	lim := l.limits
	rec.bytes += int64(len(data)) + l.msgBytes
	if lim.TaskBytes > 0 && rec.bytes > lim.TaskBytes {
		l.over(rec, lim.overBytes())
		return rec, errors.New(lim.overBytes())
	}
	events, err := eventwire.Events(data)
	if err != nil {
		problem := fmt.Sprintf("a message of %d bytes is not an event batch (%v)", len(data), err)
		rec.tree.Refuse(problem)
		return rec, errors.New(problem)
	}
	rules := report.Rules{MaxEventBytes: int(lim.EventBytes), MaxSeq: uint64(lim.TaskEvents), LogDir: rec.logDir}
	if !l.start.IsZero() {
		rules.NotBefore = l.start.Add(-timeSlack)
	}
	if !stored.IsZero() {
		rules.NotAfter = stored.Add(timeSlack)
	}
	var first error
	for w := range events {
		rec.read++
		if lim.TaskEvents > 0 && int64(rec.read) > lim.TaskEvents {
			l.over(rec, lim.overEvents())
			return rec, errors.New(lim.overEvents())
		}
		maskEvent(l.mask, w)
		if err := rec.tree.AddChecked(w, rules); err != nil && first == nil {
			first = err
		}
	}
	return rec, first
}

// over stops taking anything from a task that went over a limit.
func (l *ledger) over(rec *taskRec, why string) {
	rec.tree.Over = why
	if l.onOver != nil {
		l.onOver(rec)
	}
}

// Record is a run rebuilt from its stream by Replay.
type Record struct {
	// Notes are the host's notes, in the order stored.
	Notes []Note
	// Trees holds each task's result tree, by the index given to AddTask.
	Trees map[int]*report.Tree
	// State is the run's shared state as the hub last recorded it (the
	// store's own keys left out), each value as JSON.
	State map[string]json.RawMessage
}

// Replay reads the run stream kept in storeDir (by a hub that is no longer
// running, for instance because the host was killed) and rebuilds every
// task's tree from what the hub had stored.
func Replay(storeDir string) (*Record, error) {
	srv, err := server.NewServer(&server.Options{
		ServerName: "taskhost-replay",
		DontListen: true,
		JetStream:  true,
		StoreDir:   storeDir,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	go srv.Start()
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	if !srv.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("replay: the embedded NATS server did not start within 10s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return replay(js, streamName, "", "in "+storeDir, 0)
}

// replay rebuilds the run from its stream (the stream named name) and its
// state's bucket (bucket; "" is any run's bucket there is, the one of an
// embedded server's store); where says where the stream is, for errors.
// each, if not 0, bounds each JetStream request, which is made again
// while it is not answered (apiRetry: on a cluster).
func replay(js jetstream.JetStream, name, bucket, where string, each time.Duration) (*Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stream jetstream.Stream
	err := apiRetry(ctx, each, func(ctx context.Context) (err error) {
		stream, err = js.Stream(ctx, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("replay: no event stream %s: %w", where, err)
	}
	var info *jetstream.StreamInfo
	err = apiRetry(ctx, each, func(ctx context.Context) (err error) {
		info, err = stream.Info(ctx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("replay: the stream's info: %w", err)
	}
	l := ledger{tasks: map[string]*taskRec{}, spool: memSpool, keepNotes: true}
	last := info.State.LastSeq
	if last > 0 {
		// next is the sequence of the next message to apply: a reading
		// started again (on a cluster, after a request not answered
		// while the stream changed leaders) starts there.
		next := uint64(1)
		var cons jetstream.Consumer
		open := func() error {
			return apiRetry(ctx, each, func(ctx context.Context) (err error) {
				cons, err = stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
					DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
				return err
			})
		}
		if err := open(); err != nil {
			return nil, fmt.Errorf("replay: read the stream: %w", err)
		}
		for done := false; !done; {
			batch, err := cons.FetchBytes(readAheadBytes, jetstream.FetchMaxWait(5*time.Second))
			if err != nil && each > 0 && unanswered(err) && ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
				if err := open(); err != nil {
					return nil, fmt.Errorf("replay: read the stream: %w", err)
				}
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("replay: read the stream: %w", err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				md, err := m.Metadata()
				var stored time.Time
				if err == nil {
					if md.Sequence.Stream < next {
						continue // applied already, before the reading started again
					}
					next = md.Sequence.Stream + 1
					stored = md.Timestamp
				}
				_, _ = l.apply(m.Subject(), m.Data(), stored) // a refused message is noted in its task's record, as live
				if err == nil && md.Sequence.Stream >= last {
					done = true
					break // not waiting for the fetch to fill
				}
			}
			if err := batch.Error(); err != nil && n == 0 {
				if each > 0 && unanswered(err) && ctx.Err() == nil {
					if err := open(); err != nil {
						return nil, fmt.Errorf("replay: read the stream: %w", err)
					}
					continue
				}
				return nil, fmt.Errorf("replay: read the stream: %w", err)
			}
			if n == 0 && each > 0 && next <= last && ctx.Err() == nil {
				// On a cluster, a fetch that found nothing while the
				// stream holds more: its consumer was lost with its
				// node.
				if err := open(); err != nil {
					return nil, fmt.Errorf("replay: read the stream: %w", err)
				}
				continue
			}
			if n == 0 {
				break
			}
		}
	}
	rec := &Record{Notes: l.notes, Trees: map[int]*report.Tree{}}
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	defer scancel()
	if bucket != "" {
		rec.State, err = replayBucket(sctx, js, bucket, each)
	} else {
		rec.State, err = replayState(sctx, js)
	}
	if err != nil {
		return nil, err
	}
	for tok, t := range l.tasks {
		i, err := strconv.Atoi(strings.TrimPrefix(tok, "t"))
		if err != nil {
			continue
		}
		t.tree.Sections, _ = report.All(t.tree.Spill, t.tree.Sections) // in memory
		t.tree.Spill = nil
		rec.Trees[i] = t.tree
	}
	return rec, nil
}

// replayState reads the state's record from the run's bucket.
func replayState(ctx context.Context, js jetstream.JetStream) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, "KV_"+statekv.Bucket("")) {
			continue
		}
		kv, err := js.KeyValue(ctx, strings.TrimPrefix(name, "KV_"))
		if err != nil {
			return nil, fmt.Errorf("replay: the state's record: %w", err)
		}
		keys, err := kv.ListKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("replay: the state's record: %w", err)
		}
		for k := range keys.Keys() {
			if strings.HasPrefix(k, statekv.Reserved) {
				continue
			}
			e, err := kv.Get(ctx, k)
			if err != nil {
				continue // deleted since listed
			}
			var env statekv.Envelope
			if json.Unmarshal(e.Value(), &env) == nil && env.V != nil {
				out[k] = env.V
			}
		}
	}
	if err := names.Err(); err != nil {
		return nil, fmt.Errorf("replay: the state's record: %w", err)
	}
	return out, nil
}

// memSpool is Replay's: its trees spill as the live hub's do, into memory.
func memSpool(string) report.Spool { return &report.MemSpool{} }

// spillDir is where the live hub's trees spill, in its StoreDir.
const spillDir = "spill"

// fileSpool returns the live hub's spools: a file per task slot in dir.
func fileSpool(dir string) func(tok string) report.Spool {
	return func(tok string) report.Spool { return report.NewFileSpool(filepath.Join(dir, tok)) }
}
