package report

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/taskhost/taskhost/sdk/result"
)

// Fit makes s valid UTF-8 (U+FFFD for each bad byte sequence) of at most
// max bytes: a longer one keeps its start and says how much was cut. The
// SDK fits an event's name and reason to MaxNameBytes and MaxReasonBytes
// before it sends the event.
func Fit(s string, max int) string {
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

// Sent is an event as a task sent it on the hub, before the host checked
// it: each field as it travelled (the result by name, the time in Unix
// nanoseconds), and the size of its encoding. Check reads it into an
// Event; internal/packwire makes it from the wire's message.
type Sent struct {
	Src          string
	Seq          uint64
	Kind         string
	ID           string
	Parent       string
	Name         string
	Type         string
	Result       string
	Reason       string
	Data         []byte
	TimeUnixNano int64
	PID          int
	Logs         *LogRef
	// Size is the bytes of the event's encoding, which Rules.MaxEventBytes
	// bounds.
	Size int
}

// event reads w as an Event; an unknown result is an error. The event
// shares w's Data and Logs.
func (w *Sent) event() (Event, error) {
	ev := Event{
		Src: w.Src, Seq: w.Seq, Kind: w.Kind, ID: w.ID, Parent: w.Parent, Name: w.Name,
		Type: w.Type, Reason: w.Reason, Data: w.Data, Time: time.Unix(0, w.TimeUnixNano), PID: w.PID, Logs: w.Logs,
	}
	if w.Result != "" {
		r, err := result.Parse(w.Result)
		if err != nil {
			return ev, err
		}
		ev.Result = r
	}
	return ev, nil
}
