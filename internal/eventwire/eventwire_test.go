package eventwire_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
)

// Every field of an event on the wire reaches report's Sent as it was
// sent, with the size of its encoding; a batch's events keep their order.
func TestEventsAsSent(t *testing.T) {
	t.Parallel()
	w := &packv1.Event{Src: "pid-7", Seq: 3, Kind: "end", Id: "1/7.1", Parent: "1", Name: "n", Type: "step",
		Result: "failed", Reason: "down", Data: []byte(`{"a":1}`), TimeUnixNano: 1_700_000_000_000_000_001, Pid: 7,
		Logs: &packv1.LogRef{File: "tasks/a/pid-7.log", Begin: 10, Size: 20}}
	want := report.Sent{Src: "pid-7", Seq: 3, Kind: "end", ID: "1/7.1", Parent: "1", Name: "n", Type: "step",
		Result: "failed", Reason: "down", Data: []byte(`{"a":1}`), TimeUnixNano: 1_700_000_000_000_000_001, PID: 7,
		Logs: &report.LogRef{File: "tasks/a/pid-7.log", Begin: 10, Size: 20}, Size: w.SizeVT()}
	if diff := cmp.Diff(want, eventwire.Event(w)); diff != "" {
		t.Errorf("Event (-want +got):\n%s", diff)
	}
	if want.Size == 0 {
		t.Fatal("the event's size is 0")
	}

	second := &packv1.Event{Seq: 4, Kind: "end", TimeUnixNano: 1}
	data, err := (&packv1.EventBatch{Events: []*packv1.Event{w, second}}).MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	events, err := eventwire.Events(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []report.Sent
	for s := range events {
		got = append(got, *s)
	}
	if len(got) != 2 || cmp.Diff(want, got[0]) != "" || got[1].Seq != 4 || got[1].Logs != nil || got[1].Size != second.SizeVT() {
		t.Errorf("Events = %+v", got)
	}
	if _, err := eventwire.Events([]byte{0xff, 0xff}); err == nil {
		t.Error("Events of no batch: no error")
	}
}
