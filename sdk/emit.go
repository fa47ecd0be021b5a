package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
)

// emitter takes a task's result events. It numbers them, stamps them with
// the time and the process id, and sends them on.
type emitter interface {
	emit(ev report.Event)
	// flush waits until every event emitted so far is safely stored and
	// returns the sequence number of the last one.
	flush(ctx context.Context) (uint64, error)
	close()
}

// seqStamp numbers and stamps events; it is embedded by the emitters.
type seqStamp struct {
	mu  sync.Mutex
	src string
	seq uint64
	pid int
}

func (s *seqStamp) stamp(ev *report.Event) {
	s.seq++
	ev.Seq = s.seq
	ev.Src = s.src
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.PID == 0 {
		ev.PID = s.pid
	}
}

// memEmitter keeps events in memory; used when a pack runs a task by hand.
type memEmitter struct {
	seqStamp
	tree *report.Tree
}

func newMemEmitter() *memEmitter {
	return &memEmitter{seqStamp: seqStamp{pid: os.Getpid()}, tree: report.NewTree()}
}

func (m *memEmitter) emit(ev report.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stamp(&ev)
	if err := m.tree.Add(ev); err != nil {
		panic(fmt.Sprintf("taskhost sdk: bad event: %v", err)) // our own bug
	}
}

func (m *memEmitter) flush(context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq, nil
}

func (m *memEmitter) close() {}

// hubEmitter publishes events to the run's JetStream stream on the hub.
// Every event carries a message id, so the hub stores each once however
// often it is sent; an event whose acknowledgement does not come is sent
// again until it does.
type hubEmitter struct {
	seqStamp
	// reconnected is closed (and replaced) each time the connection comes
	// back; gen counts those times. Guarded by rmu.
	rmu         sync.Mutex
	gen         uint64
	reconnected chan struct{}

	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
	idPre   string
	// unacked holds the events sent and not yet acknowledged, in order.
	unacked []sent
}

type sent struct {
	seq  uint64
	data []byte
	fut  jetstream.PubAckFuture // nil when the send itself failed
	gen  uint64                 // connection generation it was sent on
}

// maxUnacked bounds how many events wait for their acknowledgement before
// emit waits for the oldest.
const maxUnacked = 8192

// dialHub connects to the hub as the task that h describes; src names
// this process's events ("" for the task process itself).
func dialHub(h *packv1.Hub, name, src string) (*hubEmitter, error) {
	e := &hubEmitter{reconnected: make(chan struct{})}
	nc, err := nats.Connect(h.GetUrl(),
		nats.ReconnectHandler(func(*nats.Conn) {
			e.rmu.Lock()
			e.gen++
			close(e.reconnected)
			e.reconnected = make(chan struct{})
			e.rmu.Unlock()
		}),
		nats.Name(name),
		nats.Token(h.GetToken()),
		nats.CustomInboxPrefix(h.GetInboxPrefix()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectBufSize(64<<20),
		nats.RetryOnFailedConnect(false),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to the hub at %s: %w", h.GetUrl(), err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxUnacked*2))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	e.seqStamp = seqStamp{pid: os.Getpid(), src: src}
	e.nc, e.js = nc, js
	e.subject = h.GetEventsSubject()
	e.idPre = h.GetMsgIdPrefix() + src + "."
	return e, nil
}

func (h *hubEmitter) emit(ev report.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stamp(&ev)
	data, err := json.Marshal(ev)
	if err != nil {
		panic(fmt.Sprintf("taskhost sdk: event does not encode: %v", err)) // data was checked by SetData
	}
	if len(h.unacked) >= maxUnacked {
		h.settle(context.Background(), len(h.unacked)/2)
	}
	fut, gen := h.send(ev.Seq, data)
	h.unacked = append(h.unacked, sent{seq: ev.Seq, data: data, fut: fut, gen: gen})
}

// connGen returns the connection's generation and a channel closed when
// it next reconnects.
func (h *hubEmitter) connGen() (uint64, <-chan struct{}) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	return h.gen, h.reconnected
}

func (h *hubEmitter) send(seq uint64, data []byte) (jetstream.PubAckFuture, uint64) {
	gen, _ := h.connGen()
	f, err := h.js.PublishAsync(h.subject, data, jetstream.WithMsgID(h.idPre+strconv.FormatUint(seq, 10)))
	if err != nil {
		return nil, gen
	}
	return f, gen
}

// settle waits until the oldest n unacknowledged events are acknowledged,
// and drops them from the list. An event whose send failed, or that was
// sent on a connection that has since dropped (its acknowledgement may be
// lost with it), is sent again; the hub keeps one copy. It gives up only
// when ctx ends.
func (h *hubEmitter) settle(ctx context.Context, n int) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; i < n; i++ {
		s := &h.unacked[i]
		for {
			gen, reconnected := h.connGen()
			if s.fut == nil || s.gen != gen {
				if err := ctx.Err(); err != nil {
					h.unacked = h.unacked[i:]
					return fmt.Errorf("events from %d not acknowledged by the hub: %w", s.seq, err)
				}
				if s.fut == nil {
					time.Sleep(20 * time.Millisecond) // the send failed: not connected yet
				}
				s.fut, s.gen = h.send(s.seq, s.data)
				continue
			}
			timer.Reset(5 * time.Second)
			select {
			case <-s.fut.Ok():
			case <-s.fut.Err():
				s.fut = nil
				continue
			case <-reconnected:
				continue // sent again above
			case <-timer.C:
				// No answer and no reconnect seen: send it again.
				s.fut = nil
				continue
			case <-ctx.Done():
				h.unacked = h.unacked[i:]
				return fmt.Errorf("events from %d not acknowledged by the hub: %w", s.seq, ctx.Err())
			}
			break
		}
	}
	h.unacked = append(h.unacked[:0], h.unacked[n:]...)
	return nil
}

func (h *hubEmitter) flush(ctx context.Context) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	err := h.settle(ctx, len(h.unacked))
	return h.seq, err
}

func (h *hubEmitter) close() { h.nc.Close() }
