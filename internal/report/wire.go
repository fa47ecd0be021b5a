package report

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/result"
)

// ToWire is ev as it travels on the hub. A name or reason that is not
// valid UTF-8 or is longer than the host takes (MaxNameBytes,
// MaxReasonBytes) is mended and cut to fit, saying so.
func ToWire(ev Event) *packv1.Event {
	w := &packv1.Event{
		Src: ev.Src, Seq: ev.Seq, Kind: ev.Kind, Id: ev.ID, Parent: ev.Parent, Name: fit(ev.Name, MaxNameBytes),
		Type: ev.Type, Reason: fit(ev.Reason, MaxReasonBytes), Data: ev.Data, TimeUnixNano: ev.Time.UnixNano(), Pid: int32(ev.PID),
	}
	if ev.Result != result.Unset {
		w.Result = ev.Result.String()
	}
	if ev.Logs != nil {
		w.Logs = &packv1.LogRef{File: ev.Logs.File, Begin: ev.Logs.Begin, Size: ev.Logs.Size}
	}
	return w
}

// fit makes s valid UTF-8 (U+FFFD for each bad byte sequence) of at most
// max bytes: a longer one keeps its start and says how much was cut.
func fit(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	note := fmt.Sprintf(" … (%d bytes cut)", len(s)-max)
	cut := max - len(note) - 20 // the count in the note grows a little as the cut grows
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf(" … (%d bytes cut)", len(s)-cut)
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
