package report

import (
	"time"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/result"
)

// ToWire is ev as it travels on the hub.
func ToWire(ev Event) *packv1.Event {
	w := &packv1.Event{
		Src: ev.Src, Seq: ev.Seq, Kind: ev.Kind, Id: ev.ID, Parent: ev.Parent, Name: ev.Name,
		Type: ev.Type, Reason: ev.Reason, Data: ev.Data, TimeUnixNano: ev.Time.UnixNano(), Pid: int32(ev.PID),
	}
	if ev.Result != result.Unset {
		w.Result = ev.Result.String()
	}
	if ev.Logs != nil {
		w.Logs = &packv1.LogRef{File: ev.Logs.File, Begin: ev.Logs.Begin, Size: ev.Logs.Size}
	}
	return w
}

// FromWire reads an event that travelled on the hub.
func FromWire(w *packv1.Event) (Event, error) {
	ev := Event{
		Src: w.GetSrc(), Seq: w.GetSeq(), Kind: w.GetKind(), ID: w.GetId(), Parent: w.GetParent(), Name: w.GetName(),
		Type: w.GetType(), Reason: w.GetReason(), Data: w.GetData(), Time: time.Unix(0, w.GetTimeUnixNano()), PID: int(w.GetPid()),
	}
	if w.GetResult() != "" {
		r, err := result.Parse(w.GetResult())
		if err != nil {
			return ev, err
		}
		ev.Result = r
	}
	if l := w.GetLogs(); l != nil {
		ev.Logs = &LogRef{File: l.GetFile(), Begin: l.GetBegin(), Size: l.GetSize()}
	}
	return ev, nil
}
