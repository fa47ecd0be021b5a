package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/statekv"
)

// ledger is what has been read from a run's stream: the notes, and each
// task's result tree. The live hub and Replay fill it the same way.
type ledger struct {
	tasks map[string]*taskRec // by subject token ("t<index>")
	notes []Note
	mask  *mask.Masker // nil in Replay
}

func (l *ledger) task(tok string) *taskRec {
	rec := l.tasks[tok]
	if rec == nil {
		rec = &taskRec{tree: report.NewTree()}
		l.tasks[tok] = rec
	}
	return rec
}

// apply reads one message with its subject: "th.<run>.note" is a note,
// "th.<run>.ev.<token>" an event of that task. It returns the task the
// message was for, if any.
func (l *ledger) apply(subject string, data []byte) (*taskRec, error) {
	parts := strings.Split(subject, ".")
	switch {
	case len(parts) == 3 && parts[2] == "note":
		var n Note
		if err := json.Unmarshal(data, &n); err != nil {
			return nil, err
		}
		l.notes = append(l.notes, n)
		return nil, nil
	case len(parts) == 4 && parts[2] == "ev":
		rec := l.task(parts[3])
		var batch packv1.EventBatch
		if err := batch.UnmarshalVT(data); err != nil {
			rec.bad++
			return rec, fmt.Errorf("task %s: %w", rec.id, err)
		}
		var first error
		for _, w := range batch.GetEvents() {
			maskEvent(l.mask, w)
			rec.read++
			ev, err := report.FromWire(w)
			if err == nil {
				err = rec.tree.Add(ev)
			}
			if err != nil {
				rec.bad++
				if first == nil {
					first = fmt.Errorf("task %s: %w", rec.id, err)
				}
			}
		}
		return rec, first
	}
	return nil, fmt.Errorf("unexpected subject %q", subject)
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
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := js.Stream(ctx, streamName)
	if err != nil {
		return nil, fmt.Errorf("replay: no event stream in %s: %w", storeDir, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	l := ledger{tasks: map[string]*taskRec{}}
	last := info.State.LastSeq
	if last > 0 {
		cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		for done := false; !done; {
			batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				return nil, fmt.Errorf("replay: %w", err)
			}
			n := 0
			for m := range batch.Messages() {
				n++
				_, _ = l.apply(m.Subject(), m.Data()) // a bad event is skipped, as live
				if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
					done = true
				}
			}
			if err := batch.Error(); err != nil && n == 0 {
				return nil, fmt.Errorf("replay: %w", err)
			}
			if n == 0 {
				break
			}
		}
	}
	rec := &Record{Notes: l.notes, Trees: map[int]*report.Tree{}}
	if rec.State, err = replayState(ctx, js); err != nil {
		return nil, err
	}
	for tok, t := range l.tasks {
		i, err := strconv.Atoi(strings.TrimPrefix(tok, "t"))
		if err != nil {
			continue
		}
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
