package eventwire

import (
	"iter"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// Events reads a message that a task published on the hub (an
// EventBatch) and gives its events as sent, in order, for report.Check.
// The event given is the same *report.Sent each time, filled anew: keep
// none of them past its turn (what report.Check makes of it is the
// caller's to keep).
func Events(data []byte) (iter.Seq[*report.Sent], error) {
	var b packv1.EventBatch
	if err := b.UnmarshalVT(data); err != nil {
		return nil, err
	}
	return func(yield func(*report.Sent) bool) {
		var s report.Sent
		for _, w := range b.Events {
			fill(&s, w)
			if !yield(&s) {
				return
			}
		}
	}, nil
}

// Event is w as sent.
func Event(w *packv1.Event) report.Sent {
	var s report.Sent
	fill(&s, w)
	return s
}

// fill makes s the event w, as sent, with the size of w's encoding.
func fill(s *report.Sent, w *packv1.Event) {
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

// ToWire is ev as it travels on the hub (the SDK's emitter sends it). A
// name or reason that is not valid UTF-8 or is longer than the host takes
// (report.MaxNameBytes, report.MaxReasonBytes) is mended and cut to fit,
// saying so.
func ToWire(ev report.Event) *packv1.Event {
	w := &packv1.Event{
		Src: ev.Src, Seq: ev.Seq, Kind: ev.Kind, Id: ev.ID, Parent: ev.Parent, Name: report.Fit(ev.Name, report.MaxNameBytes),
		Type: ev.Type, Reason: report.Fit(ev.Reason, report.MaxReasonBytes), Data: ev.Data, TimeUnixNano: ev.Time.UnixNano(), Pid: int32(ev.PID),
	}
	if ev.Result != result.Unset {
		w.Result = ev.Result.String()
	}
	if ev.Logs != nil {
		w.Logs = &packv1.LogRef{File: ev.Logs.File, Begin: ev.Logs.Begin, Size: ev.Logs.Size}
	}
	return w
}
