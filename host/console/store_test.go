package console

import (
	"bytes"
	"testing"

	"github.com/taskhost/taskhost/host/runner"
)

// TestStoreLines: what the run says of its store (a full disk) is a line
// of its own, even with -q.
func TestStoreLines(t *testing.T) {
	no := false
	var b bytes.Buffer
	v := New(&b, Options{Quiet: true, Live: &no})
	v.Event(runner.Event{Type: runner.EventStoreFailed, Time: t0, Reason: "the run's disk is full: its store cannot write (…)"})
	v.Event(runner.Event{Type: runner.EventStoreRecovered, Time: t0, Reason: "the run's store writes again, after 4s"})
	v.Close()
	want := "04:00:00 the run's disk is full: its store cannot write (…)\n04:00:00 the run's store writes again, after 4s\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
