package emit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/taskhost/taskhost/internal/report"
)

// Emitter takes a task's result events. It numbers them, stamps them with
// the time and the process id, and sends them on.
type Emitter interface {
	// Emit takes one event.
	Emit(ev report.Event)
	// Flush waits until every event emitted so far is safely stored and
	// returns the sequence number of the last one.
	Flush(ctx context.Context) (uint64, error)
	// Close lets go of what the emitter holds (its connection).
	Close()
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

// Mem keeps events in memory, in a result tree; used when a pack runs a
// task by hand.
type Mem struct {
	seqStamp
	// Tree is the tree the events build.
	Tree *report.Tree
	// Sink, if set, gets each event as a JSON line.
	Sink *bufio.Writer
}

// NewMem returns an empty Mem.
func NewMem() *Mem {
	return &Mem{seqStamp: seqStamp{pid: os.Getpid()}, Tree: report.NewTree()}
}

// Emit adds ev to the tree.
func (m *Mem) Emit(ev report.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stamp(&ev)
	if m.Sink != nil {
		b, _ := json.Marshal(ev)
		m.Sink.Write(append(b, '\n'))
	}
	if err := m.Tree.Add(ev); err != nil {
		panic(fmt.Sprintf("taskhost sdk: bad event: %v", err)) // our own bug
	}
}

// Flush returns the last event's number: every event is stored.
func (m *Mem) Flush(context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq, nil
}

// Close does nothing.
func (m *Mem) Close() {}
