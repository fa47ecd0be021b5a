package report_test

import (
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// sent is w as the host reads it from the hub.
func sent(w *packv1.Event) *report.Sent {
	s := eventwire.Event(w)
	return &s
}

// Check refuses an event with any field that makes no sense, and says
// which; what the SDK sends (through ToWire) passes.
func TestCheck(t *testing.T) {
	t.Parallel()
	now := time.Now()
	rules := report.Rules{MaxEventBytes: 4096, MaxSeq: 100, LogDir: "tasks/a",
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	good := func() *packv1.Event {
		return eventwire.ToWire(report.Event{Src: "pid-42", Seq: 3, Kind: report.KindEnd, ID: "1/42.1", Result: result.Failed,
			Reason: "down", Data: []byte(`{"a":1}`), Time: now, PID: 42, Logs: &report.LogRef{File: "tasks/a/pid-42.log", Size: 10}})
	}
	if _, err := report.Check(sent(good()), rules); err != nil {
		t.Fatalf("a good end event refused: %v", err)
	}
	for _, ev := range []report.Event{
		{Seq: 1, Kind: report.KindStart, ID: "1", Name: "s", Type: report.TypeSection, Time: now},
		{Seq: 2, Kind: report.KindLog, Parent: "1", Name: "tasks/a/pid-7.log", PID: 7, Time: now},
		{Seq: 4, Kind: report.KindEnd, Result: result.Passed, Data: []byte(`[1]`), Time: now},
	} {
		if _, err := report.Check(sent(eventwire.ToWire(ev)), rules); err != nil {
			t.Errorf("%s event refused: %v", ev.Kind, err)
		}
	}
	tests := map[string]struct {
		mod  func(w *packv1.Event)
		want string
	}{
		"data not JSON":       {func(w *packv1.Event) { w.Data = []byte(`{"a":`) }, "event 3 of pid-42: data is not JSON"},
		"too large":           {func(w *packv1.Event) { w.Data = []byte(`"` + strings.Repeat("x", 5000) + `"`) }, "over the limit of 4096"},
		"reason not UTF-8":    {func(w *packv1.Event) { w.Reason = "bad \xff" }, "reason is not valid UTF-8"},
		"name on an end":      {func(w *packv1.Event) { w.Name = "x" }, "an end with a type, parent or name"},
		"id too long":         {func(w *packv1.Event) { w.Id = strings.Repeat("1", 2000) }, "id of 2000 bytes"},
		"id with a newline":   {func(w *packv1.Event) { w.Id = "1\n2" }, "control character"},
		"unknown kind":        {func(w *packv1.Event) { w.Kind = "middle" }, `unknown kind "middle"`},
		"unknown result":      {func(w *packv1.Event) { w.Result = "great" }, "great"},
		"seq 0":               {func(w *packv1.Event) { w.Seq = 0 }, "sequence number 0"},
		"seq past the limit":  {func(w *packv1.Event) { w.Seq = 101 }, "more than the 100 events"},
		"bad source":          {func(w *packv1.Event) { w.Src = "../x" }, "is not pid-<pid>"},
		"no time":             {func(w *packv1.Event) { w.TimeUnixNano = 0 }, "is not during the run"},
		"time far ahead":      {func(w *packv1.Event) { w.TimeUnixNano = now.Add(48 * time.Hour).UnixNano() }, "is not during the run"},
		"time long before":    {func(w *packv1.Event) { w.TimeUnixNano = now.Add(-48 * time.Hour).UnixNano() }, "is not during the run"},
		"negative pid":        {func(w *packv1.Event) { w.Pid = -1 }, "pid -1"},
		"log file elsewhere":  {func(w *packv1.Event) { w.Logs.File = "/etc/shadow" }, "not a path inside the run directory"},
		"log file up":         {func(w *packv1.Event) { w.Logs.File = "tasks/a/../../../etc/shadow" }, "not a path inside"},
		"another task's log":  {func(w *packv1.Event) { w.Logs.File = "tasks/b/task.log" }, "not in the task's directory tasks/a"},
		"log in a subdir":     {func(w *packv1.Event) { w.Logs.File = "tasks/a/x/task.log" }, "not in the task's directory"},
		"negative log range":  {func(w *packv1.Event) { w.Logs.Begin = -5 }, "log range -5+10"},
		"log on the task end": {func(w *packv1.Event) { w.Id = "" }, "log lines on the task's end"},
		"start with a result": {func(w *packv1.Event) { w.Kind, w.Logs, w.Data, w.Reason = "start", nil, nil, "" }, "a start with a result"},
		"start without id": {func(w *packv1.Event) {
			w.Kind, w.Id, w.Logs, w.Data, w.Reason, w.Result = "start", "", nil, nil, "", ""
		}, "start without an id"},
		"unknown type": {func(w *packv1.Event) {
			w.Kind, w.Type, w.Logs, w.Data, w.Reason, w.Result = "start", "chapter", nil, nil, "", ""
		}, `unknown type "chapter"`},
		"log event naming /etc": {func(w *packv1.Event) {
			*w = packv1.Event{Seq: 2, Kind: "log", Parent: "1", Name: "/etc/passwd", TimeUnixNano: now.UnixNano()}
		}, `log file "/etc/passwd"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := good()
			tc.mod(w)
			if _, err := report.Check(sent(w), rules); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want an error with %q", err, tc.want)
			}
		})
	}
	// Without the task's directory, a log file must still be in some
	// task's (or hook call's) own directory.
	loose := report.Rules{}
	for file, ok := range map[string]bool{"tasks/b/task.log": true, "hooks/h/task.log": true, "job.log": false,
		"tasks/task.log": false, "hub/x": false, "tasks/a/b/c.log": false} {
		w := good()
		w.Logs.File = file
		if _, err := report.Check(sent(w), loose); (err == nil) != ok {
			t.Errorf("log file %s with no task directory: %v", file, err)
		}
	}
}

// ToWire makes what the SDK sends fit what the host takes: a name or
// reason too long or not UTF-8 is mended and cut, and says so.
func TestToWireFits(t *testing.T) {
	t.Parallel()
	now := time.Now()
	long := strings.Repeat("é", report.MaxReasonBytes) // twice the bytes allowed
	w := eventwire.ToWire(report.Event{Seq: 1, Kind: report.KindEnd, ID: "1", Result: result.Failed, Reason: long, Time: now})
	if _, err := report.Check(sent(w), report.Rules{}); err != nil {
		t.Fatalf("a long reason from ToWire refused: %v", err)
	}
	if len(w.Reason) > report.MaxReasonBytes || !strings.HasSuffix(w.Reason, "bytes cut)") || !strings.HasPrefix(w.Reason, "éé") {
		t.Errorf("reason of %d bytes ends %q, want at most %d and a note of the cut", len(w.Reason), w.Reason[len(w.Reason)-30:], report.MaxReasonBytes)
	}
	w = eventwire.ToWire(report.Event{Seq: 1, Kind: report.KindStart, ID: "1", Name: "bad \xff\xfe name", Time: now})
	if _, err := report.Check(sent(w), report.Rules{}); err != nil || w.Name != "bad \uFFFD name" {
		t.Errorf("name %q: %v", w.Name, err)
	}
}

// A refused event keeps its place in its source's order: the events
// after it apply, and it is counted once however often it is sent.
func TestAddCheckedRefusedKeepsItsPlace(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tr := report.NewTree()
	w := func(ev report.Event) *packv1.Event { return eventwire.ToWire(ev) }
	bad := w(report.Event{Seq: 2, Kind: report.KindEnd, ID: "1", Result: result.Passed, Time: now})
	bad.Data = []byte(`{"a":`)
	third := w(report.Event{Seq: 3, Kind: report.KindEnd, Result: result.Passed, Time: now})
	// Out of order, and the bad one twice.
	for _, ev := range []*packv1.Event{third, bad, w(report.Event{Seq: 1, Kind: report.KindStart, ID: "1", Name: "s", Time: now}), bad} {
		_ = tr.AddChecked(sent(ev), report.Rules{})
	}
	if tr.Refused != 1 || !tr.Ended || tr.Applied("") != 3 || tr.Pending() != 0 {
		t.Errorf("refused %d, ended %v, applied %d, pending %d; want 1 true 3 0", tr.Refused, tr.Ended, tr.Applied(""), tr.Pending())
	}
	// One whose place cannot be told is refused at once.
	noPlace := w(report.Event{Src: "someone", Seq: 1, Kind: report.KindStart, ID: "9", Time: now})
	if err := tr.AddChecked(sent(noPlace), report.Rules{}); err == nil || tr.Refused != 2 {
		t.Errorf("a bad source: %v, %d refused", err, tr.Refused)
	}
}
