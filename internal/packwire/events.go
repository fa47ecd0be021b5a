package packwire

import (
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
)

// UnmarshalBatch reads a message that a task published on the hub (an
// EventBatch) into its events as sent, for report.Check.
func UnmarshalBatch(data []byte) ([]report.Sent, error) {
	var b packv1.EventBatch
	if err := b.UnmarshalVT(data); err != nil {
		return nil, err
	}
	return Batch(&b), nil
}

// Batch is b's events as sent.
func Batch(b *packv1.EventBatch) []report.Sent {
	evs := b.GetEvents()
	out := make([]report.Sent, len(evs))
	for i, w := range evs {
		event(w, &out[i])
	}
	return out
}

// Event is w as sent.
func Event(w *packv1.Event) report.Sent {
	var s report.Sent
	event(w, &s)
	return s
}

func event(w *packv1.Event, s *report.Sent) {
	*s = report.Sent{
		Src: w.GetSrc(), Seq: w.GetSeq(), Kind: w.GetKind(), ID: w.GetId(), Parent: w.GetParent(), Name: w.GetName(),
		Type: w.GetType(), Result: w.GetResult(), Reason: w.GetReason(), Data: w.GetData(),
		TimeUnixNano: w.GetTimeUnixNano(), PID: int(w.GetPid()), Logs: LogRef(w.GetLogs()), Size: w.SizeVT(),
	}
}

// LogRef is l as report's; nil for none.
func LogRef(l *packv1.LogRef) *report.LogRef {
	if l == nil {
		return nil
	}
	return &report.LogRef{File: l.GetFile(), Begin: l.GetBegin(), Size: l.GetSize()}
}
