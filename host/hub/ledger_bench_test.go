package hub

import (
	"strconv"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// BenchmarkLedgerEvents: the host's event path without NATS: a task's
// batches (200 events each, steps started and ended, as the SDK sends
// them) decoded, checked within the run's limits, and applied to its
// tree. ns/event is the cost of one event.
func BenchmarkLedgerEvents(b *testing.B) {
	const steps, perBatch = 10000, 200
	now := time.Now()
	var batches [][]byte
	var batch packv1.EventBatch
	seq := uint64(0)
	for i := range steps {
		id := strconv.Itoa(i + 1)
		for _, ev := range []report.Event{
			{Kind: report.KindStart, ID: id, Name: "step " + id, Type: report.TypeStep, Time: now},
			{Kind: report.KindEnd, ID: id, Result: result.Passed, Time: now},
		} {
			seq++
			ev.Seq = seq
			batch.Events = append(batch.Events, eventwire.ToWire(ev))
		}
		if len(batch.Events) >= perBatch || i == steps-1 {
			data, err := batch.MarshalVT()
			if err != nil {
				b.Fatal(err)
			}
			batches = append(batches, data)
			batch.Events = nil
		}
	}
	for b.Loop() {
		l := ledger{tasks: map[string]*taskRec{}, limits: Limits{}.withDefaults(), start: now.Add(-time.Minute)}
		for _, data := range batches {
			if _, err := l.event("t1", data, now); err != nil {
				b.Fatal(err)
			}
		}
		if l.tasks["t1"].tree.Applied("") != seq {
			b.Fatalf("%d events applied, want %d", l.tasks["t1"].tree.Applied(""), seq)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(seq), "ns/event")
}
