package report_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

var t0 = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

// ignoreOpen leaves the unexported open flag out of Node comparisons.
var ignoreOpen = cmpopts.IgnoreUnexported(report.Node{})

func start(seq uint64, id, parent, name, typ string, s float64) report.Event {
	return report.Event{Seq: seq, Kind: report.KindStart, ID: id, Parent: parent, Name: name, Type: typ, Time: at(s), PID: 42}
}

func end(seq uint64, id string, r result.Result, reason string, s float64) report.Event {
	return report.Event{Seq: seq, Kind: report.KindEnd, ID: id, Result: r, Reason: reason, Time: at(s)}
}

// addAll adds evs in order and fails the test on any error.
func addAll(t *testing.T, tr *report.Tree, evs ...report.Event) {
	t.Helper()
	for _, ev := range evs {
		if err := tr.Add(ev); err != nil {
			t.Fatalf("Add(seq %d %s %q): %v", ev.Seq, ev.Kind, ev.ID, err)
		}
	}
}

func TestAddBuildsNestedTree(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	data := json.RawMessage(`{"rows":3}`)
	endWithData := end(8, "1.1", result.Passx, "flaky", 4)
	endWithData.Data = data
	addAll(t, tr,
		start(1, "1", "", "setup", report.TypeSection, 0),
		start(2, "1.1", "1", "connect", "", 1), // no type: a step
		start(3, "1.1.1", "1.1", "dial", report.TypeStep, 1.5),
		start(4, "1.1.1.1", "1.1.1", "resolve", report.TypeStep, 2),
		end(5, "1.1.1.1", result.Passed, "", 2.25),
		end(6, "1.1.1", result.Unset, "", 3),
		start(7, "1.1.2", "1.1", "login", report.TypeStep, 3),
		endWithData,
		end(9, "1", result.Unset, "", 5),
		start(10, "2", "", "top step", report.TypeStep, 5),
		end(11, "2", result.Skipped, "not today", 6),
		end(12, "", result.Passx, "task reason", 7),
	)
	// 1.1.2 was never ended: it stays open with no result.
	want := []*report.Node{
		{
			Type: report.TypeSection, ID: "1", Name: "setup", PID: 42,
			StartTime: at(0), StopTime: at(5), Runtime: 5,
			Result: report.Outcome{Value: result.Passx},
			Sections: []*report.Node{{
				Type: report.TypeStep, ID: "1.1", Name: "connect", PID: 42,
				StartTime: at(1), StopTime: at(4), Runtime: 3,
				Result: report.Outcome{Value: result.Passx, Reason: "flaky", Data: data},
				Sections: []*report.Node{
					{
						Type: report.TypeStep, ID: "1.1.1", Name: "dial", PID: 42,
						StartTime: at(1.5), StopTime: at(3), Runtime: 1.5,
						Result: report.Outcome{Value: result.Passed},
						Sections: []*report.Node{{
							Type: report.TypeStep, ID: "1.1.1.1", Name: "resolve", PID: 42,
							StartTime: at(2), StopTime: at(2.25), Runtime: 0.25,
							Result: report.Outcome{Value: result.Passed},
						}},
					},
					{
						Type: report.TypeStep, ID: "1.1.2", Name: "login", PID: 42,
						StartTime: at(3),
					},
				},
			}},
		},
		{
			Type: report.TypeStep, ID: "2", Name: "top step", PID: 42,
			StartTime: at(5), StopTime: at(6), Runtime: 1,
			Result: report.Outcome{Value: result.Skipped, Reason: "not today"},
		},
	}
	if diff := cmp.Diff(want, tr.Sections, ignoreOpen); diff != "" {
		t.Errorf("Sections (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(report.Outcome{Value: result.Passx, Reason: "task reason"}, tr.Own); diff != "" {
		t.Errorf("Own (-want +got):\n%s", diff)
	}
	if !tr.Ended {
		t.Error("Ended = false after the task's end event")
	}
	if tr.Applied("") != 12 {
		t.Errorf("Applied = %d, want 12", tr.Applied(""))
	}
	if tr.Count() != 6 {
		t.Errorf("Count() = %d, want 6", tr.Count())
	}
}

func TestNotEndedBeforeTaskEnd(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	addAll(t, tr, start(1, "1", "", "s", report.TypeSection, 0), end(2, "1", result.Passed, "", 1))
	if tr.Ended {
		t.Error("Ended = true before the task's end event")
	}
}

func TestAddIgnoresDuplicates(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		events []report.Event
		want   []string
	}{
		"start sent twice": {events: []report.Event{
			start(1, "1", "", "a", report.TypeStep, 0),
			start(1, "1", "", "a", report.TypeStep, 0),
			end(2, "1", result.Failed, "boom", 1),
		}, want: []string{"1=failed"}},
		"end sent again after later events": {events: []report.Event{
			start(1, "1", "", "a", report.TypeStep, 0),
			end(2, "1", result.Failed, "boom", 1),
			start(3, "2", "", "b", report.TypeStep, 1),
			end(2, "1", result.Failed, "boom", 1),
			start(1, "1", "", "a", report.TypeStep, 0),
			end(4, "2", result.Passed, "", 2),
		}, want: []string{"1=failed", "2=passed"}},
		"every event sent twice": {events: []report.Event{
			start(1, "1", "", "a", report.TypeStep, 0),
			start(1, "1", "", "a", report.TypeStep, 0),
			end(2, "1", result.Failed, "boom", 1),
			end(2, "1", result.Failed, "boom", 1),
			start(3, "2", "", "b", report.TypeStep, 1),
			start(3, "2", "", "b", report.TypeStep, 1),
			end(4, "2", result.Passed, "", 2),
			end(4, "2", result.Passed, "", 2),
		}, want: []string{"1=failed", "2=passed"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := report.NewTree()
			addAll(t, tr, tc.events...)
			var got []string
			for _, n := range tr.Sections {
				got = append(got, n.ID+"="+n.Result.Value.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sections (-want +got):\n%s", diff)
			}
			if tr.Count() != len(tc.want) || tr.Pending() != 0 {
				t.Errorf("Count()=%d Pending()=%d, want %d 0", tr.Count(), tr.Pending(), len(tc.want))
			}
		})
	}
}

func TestAddWaitsForEarlierEvents(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	ev1 := start(1, "1", "", "a", report.TypeSection, 0)
	ev2 := start(2, "1.1", "1", "b", report.TypeStep, 1)
	ev3 := end(3, "1.1", result.Failed, "nope", 2)

	// 3 arrives first: it would be an error (end of an unknown step) if it
	// were applied now; it must wait.
	if err := tr.Add(ev3); err != nil {
		t.Fatalf("Add(3) first: %v", err)
	}
	if tr.Applied("") != 0 || tr.Pending() != 1 || tr.Count() != 0 {
		t.Fatalf("after 3: Applied=%d Pending=%d Count=%d, want 0 1 0", tr.Applied(""), tr.Pending(), tr.Count())
	}
	if err := tr.Add(ev1); err != nil {
		t.Fatalf("Add(1): %v", err)
	}
	if tr.Applied("") != 1 || tr.Pending() != 1 || tr.Count() != 1 {
		t.Fatalf("after 1: Applied=%d Pending=%d Count=%d, want 1 1 1", tr.Applied(""), tr.Pending(), tr.Count())
	}
	if err := tr.Add(ev2); err != nil {
		t.Fatalf("Add(2): %v", err)
	}
	if tr.Applied("") != 3 || tr.Pending() != 0 || tr.Count() != 2 {
		t.Fatalf("after 2: Applied=%d Pending=%d Count=%d, want 3 0 2", tr.Applied(""), tr.Pending(), tr.Count())
	}
	want := []*report.Node{{
		Type: report.TypeSection, ID: "1", Name: "a", PID: 42, StartTime: at(0),
		Sections: []*report.Node{{
			Type: report.TypeStep, ID: "1.1", Name: "b", PID: 42,
			StartTime: at(1), StopTime: at(2), Runtime: 1,
			Result: report.Outcome{Value: result.Failed, Reason: "nope"},
		}},
	}}
	if diff := cmp.Diff(want, tr.Sections, ignoreOpen); diff != "" {
		t.Errorf("Sections (-want +got):\n%s", diff)
	}
}

func TestAddOrders(t *testing.T) {
	t.Parallel()
	evs := []report.Event{
		start(1, "1", "", "s", report.TypeSection, 0),
		start(2, "1.1", "1", "a", report.TypeStep, 0),
		end(3, "1.1", result.Passed, "", 1),
		start(4, "1.2", "1", "b", report.TypeStep, 1),
		end(5, "1.2", result.Blocked, "no device", 2),
		end(6, "1", result.Unset, "", 3),
		end(7, "", result.Blocked, "", 3),
	}
	tests := map[string]struct {
		order []int // indexes into evs
	}{
		"in order":        {order: []int{0, 1, 2, 3, 4, 5, 6}},
		"reversed":        {order: []int{6, 5, 4, 3, 2, 1, 0}},
		"shuffled":        {order: []int{2, 0, 5, 1, 6, 4, 3}},
		"with duplicates": {order: []int{3, 3, 0, 1, 0, 2, 6, 4, 5, 1, 6}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := report.NewTree()
			for _, i := range tc.order {
				if err := tr.Add(evs[i]); err != nil {
					t.Fatalf("Add(%d): %v", evs[i].Seq, err)
				}
			}
			got := map[string]string{}
			for _, n := range tr.Sections {
				got[n.ID] = n.Result.Value.String()
				for _, c := range n.Sections {
					got[c.ID] = c.Result.Value.String() + " " + c.Result.Reason
				}
			}
			want := map[string]string{"1": "blocked", "1.1": "passed ", "1.2": "blocked no device"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if tr.Applied("") != 7 || tr.Pending() != 0 || !tr.Ended {
				t.Errorf("Applied=%d Pending=%d Ended=%v, want 7 0 true", tr.Applied(""), tr.Pending(), tr.Ended)
			}
		})
	}
}

func TestAddErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		before  []report.Event
		bad     report.Event
		wantErr string
	}{
		"end of unknown step": {
			before:  []report.Event{start(1, "1", "", "s", report.TypeSection, 0)},
			bad:     end(2, "9", result.Passed, "", 1),
			wantErr: `end of unknown step "9"`,
		},
		"start with unknown parent": {
			before:  []report.Event{start(1, "1", "", "s", report.TypeSection, 0)},
			bad:     start(2, "7.1", "7", "x", report.TypeStep, 1),
			wantErr: `unknown parent "7"`,
		},
		"start without id": {
			before:  []report.Event{start(1, "1", "", "s", report.TypeSection, 0)},
			bad:     start(2, "", "", "x", report.TypeStep, 1),
			wantErr: "without an id",
		},
		"start twice": {
			before:  []report.Event{start(1, "1", "", "s", report.TypeSection, 0)},
			bad:     start(2, "1", "", "s again", report.TypeSection, 1),
			wantErr: `"1" started twice`,
		},
		"unknown kind": {
			before:  []report.Event{start(1, "1", "", "s", report.TypeSection, 0)},
			bad:     report.Event{Seq: 2, Kind: "middle", ID: "1"},
			wantErr: `unknown kind "middle"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := report.NewTree()
			addAll(t, tr, tc.before...)
			err := tr.Add(tc.bad)
			if err == nil {
				t.Fatalf("Add(%+v) = nil, want an error", tc.bad)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Add error = %q, want it to contain %q", err, tc.wantErr)
			}
			// The tree is unchanged: still one open section.
			want := []*report.Node{{Type: report.TypeSection, ID: "1", Name: "s", PID: 42, StartTime: at(0)}}
			if diff := cmp.Diff(want, tr.Sections, ignoreOpen); diff != "" {
				t.Errorf("Sections after the bad event (-want +got):\n%s", diff)
			}
			// The bad event is skipped, not waited on: the next one applies.
			if err := tr.Add(end(3, "1", result.Passed, "", 2)); err != nil {
				t.Fatalf("Add after the bad event: %v", err)
			}
			if got := tr.Sections[0].Result.Value; got != result.Passed {
				t.Errorf("section result after the bad event = %v, want passed", got)
			}
		})
	}
}

// A bad event must not stop the events queued after it, whether it arrives
// in order or was waiting itself.
func TestAddBadEventDoesNotWedgePending(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		early []report.Event // added first; they wait for event 1
		first report.Event   // event 1
	}{
		"bad event was waiting": {
			early: []report.Event{start(3, "2", "", "b", report.TypeStep, 1), end(2, "9", result.Passed, "", 1)},
			first: start(1, "1", "", "a", report.TypeStep, 0),
		},
		"bad event arrives in order": {
			early: []report.Event{start(3, "2", "", "b", report.TypeStep, 1), start(2, "1", "", "a", report.TypeStep, 0)},
			first: end(1, "9", result.Passed, "", 0),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := report.NewTree()
			addAll(t, tr, tc.early...)
			if err := tr.Add(tc.first); err == nil {
				t.Error("Add(1) = nil, want the error of the bad event")
			}
			if tr.Applied("") != 3 || tr.Pending() != 0 {
				t.Errorf("Applied=%d Pending=%d, want 3 0 (the good events applied)", tr.Applied(""), tr.Pending())
			}
			if err := tr.Add(end(4, "2", result.Passed, "", 2)); err != nil {
				t.Errorf("Add(4): %v", err)
			}
			if tr.Applied("") != 4 {
				t.Errorf("Applied = %d after event 4, want 4", tr.Applied(""))
			}
		})
	}
}

func TestNodeResultRollsUpChildren(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		children []result.Result // results the children end with
		own      result.Result   // result in the parent's end event
		want     result.Result
	}{
		"no result, no children":         {want: result.Passed},
		"own passed, child failed":       {own: result.Passed, children: []result.Result{result.Passed, result.Failed}, want: result.Failed},
		"own failed, children passed":    {own: result.Failed, children: []result.Result{result.Passed}, want: result.Failed},
		"no own, children passed":        {children: []result.Result{result.Passed, result.Passed}, want: result.Passed},
		"no own, child errored":          {children: []result.Result{result.Skipped, result.Errored}, want: result.Errored},
		"own skipped, no children":       {own: result.Skipped, want: result.Skipped},
		"own passx, child blocked":       {own: result.Passx, children: []result.Result{result.Blocked}, want: result.Blocked},
		"own aborted, child errored":     {own: result.Aborted, children: []result.Result{result.Errored}, want: result.Aborted},
		"own passed, child passx":        {own: result.Passed, children: []result.Result{result.Passx}, want: result.Passx},
		"child with no result is passed": {own: result.Skipped, children: []result.Result{result.Unset}, want: result.Passed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := report.NewTree()
			addAll(t, tr, start(1, "1", "", "p", report.TypeSection, 0))
			seq := uint64(2)
			for i, r := range tc.children {
				id := "1." + string(rune('1'+i))
				addAll(t, tr, start(seq, id, "1", "c", report.TypeStep, 0), end(seq+1, id, r, "", 1))
				seq += 2
			}
			addAll(t, tr, end(seq, "1", tc.own, "", 2))
			if got := tr.Sections[0].Result.Value; got != tc.want {
				t.Errorf("parent result = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTreeResult(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		own      result.Result // Unset: no task end event
		sections []result.Result
		want     result.Result
	}{
		"empty tree":                {want: result.Passed},
		"own only":                  {own: result.Failed, want: result.Failed},
		"own skipped only":          {own: result.Skipped, want: result.Skipped},
		"sections only":             {sections: []result.Result{result.Passed, result.Errored, result.Passx}, want: result.Errored},
		"own worse than sections":   {own: result.Aborted, sections: []result.Result{result.Failed}, want: result.Aborted},
		"section worse than own":    {own: result.Passx, sections: []result.Result{result.Passed, result.Blocked}, want: result.Blocked},
		"own passed, sections pass": {own: result.Passed, sections: []result.Result{result.Passed, result.Skipped}, want: result.Passed},
		"all sections skipped":      {sections: []result.Result{result.Skipped, result.Skipped}, want: result.Skipped},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := report.NewTree()
			seq := uint64(1)
			for i, r := range tc.sections {
				id := string(rune('1' + i))
				addAll(t, tr, start(seq, id, "", "s", report.TypeSection, 0), end(seq+1, id, r, "", 1))
				seq += 2
			}
			if tc.own != result.Unset {
				addAll(t, tr, end(seq, "", tc.own, "", 2))
			}
			if got := tr.Result(); got != tc.want {
				t.Errorf("Result() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCloseOpen(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	addAll(t, tr,
		start(1, "1", "", "setup", report.TypeSection, 0),
		start(2, "1.1", "1", "done", report.TypeStep, 0),
		end(3, "1.1", result.Passx, "kept", 1),
		end(4, "1", result.Unset, "", 1),
		start(5, "2", "", "test", report.TypeSection, 1),
		start(6, "2.1", "2", "closed", report.TypeStep, 1),
		end(7, "2.1", result.Failed, "own reason", 2),
		start(8, "2.2", "2", "open", report.TypeStep, 2),
		start(9, "2.2.1", "2.2", "inner open", report.TypeStep, 3),
		start(10, "2.2.1.1", "2.2.1", "closed deep", report.TypeStep, 3),
		end(11, "2.2.1.1", result.Errored, "deep error", 4),
	)
	stop := at(10)
	tr.CloseOpen(result.Skipped, "the task process died", stop)

	want := []*report.Node{
		{
			Type: report.TypeSection, ID: "1", Name: "setup", PID: 42,
			StartTime: at(0), StopTime: at(1), Runtime: 1,
			Result: report.Outcome{Value: result.Passx},
			Sections: []*report.Node{{
				Type: report.TypeStep, ID: "1.1", Name: "done", PID: 42,
				StartTime: at(0), StopTime: at(1), Runtime: 1,
				Result: report.Outcome{Value: result.Passx, Reason: "kept"},
			}},
		},
		{
			// Closed with Skipped, but it holds a Failed and an Errored.
			Type: report.TypeSection, ID: "2", Name: "test", PID: 42,
			StartTime: at(1), StopTime: stop, Runtime: 9,
			Result: report.Outcome{Value: result.Errored, Reason: "the task process died"},
			Sections: []*report.Node{
				{
					Type: report.TypeStep, ID: "2.1", Name: "closed", PID: 42,
					StartTime: at(1), StopTime: at(2), Runtime: 1,
					Result: report.Outcome{Value: result.Failed, Reason: "own reason"},
				},
				{
					// Errored only if 2.2.1 was closed before it.
					Type: report.TypeStep, ID: "2.2", Name: "open", PID: 42,
					StartTime: at(2), StopTime: stop, Runtime: 8,
					Result: report.Outcome{Value: result.Errored, Reason: "the task process died"},
					Sections: []*report.Node{{
						Type: report.TypeStep, ID: "2.2.1", Name: "inner open", PID: 42,
						StartTime: at(3), StopTime: stop, Runtime: 7,
						Result: report.Outcome{Value: result.Errored, Reason: "the task process died"},
						Sections: []*report.Node{{
							Type: report.TypeStep, ID: "2.2.1.1", Name: "closed deep", PID: 42,
							StartTime: at(3), StopTime: at(4), Runtime: 1,
							Result: report.Outcome{Value: result.Errored, Reason: "deep error"},
						}},
					}},
				},
			},
		},
	}
	if diff := cmp.Diff(want, tr.Sections, ignoreOpen); diff != "" {
		t.Errorf("after CloseOpen (-want +got):\n%s", diff)
	}

	// Everything is closed now: a second CloseOpen changes nothing.
	tr.CloseOpen(result.Aborted, "again", at(20))
	if diff := cmp.Diff(want, tr.Sections, ignoreOpen); diff != "" {
		t.Errorf("after a second CloseOpen (-want +got):\n%s", diff)
	}
}

func TestCloseOpenLeafGetsResult(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		r result.Result
	}{
		"aborted": {r: result.Aborted},
		"errored": {r: result.Errored},
		"blocked": {r: result.Blocked},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tr := report.NewTree()
			addAll(t, tr,
				start(1, "1", "", "s", report.TypeSection, 0),
				start(2, "1.1", "1", "a", report.TypeStep, 0),
				end(3, "1.1", result.Passed, "", 1),
				start(4, "1.2", "1", "b", report.TypeStep, 1),
			)
			tr.CloseOpen(tc.r, "stopped", at(5))
			got := map[string]report.Outcome{}
			for _, n := range tr.Sections {
				got[n.ID] = n.Result
				for _, c := range n.Sections {
					got[c.ID] = c.Result
				}
			}
			want := map[string]report.Outcome{
				"1":   {Value: tc.r, Reason: "stopped"},
				"1.1": {Value: result.Passed},
				"1.2": {Value: tc.r, Reason: "stopped"},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if got := tr.Result(); got != tc.r {
				t.Errorf("Result() = %v, want %v", got, tc.r)
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	addAll(t, tr,
		start(1, "1", "", "setup", report.TypeSection, 0),
		start(2, "1.1", "1", "connect", report.TypeStep, 0),
		end(3, "1.1", result.Passed, "", 1),
		end(4, "1", result.Unset, "", 1),
		start(5, "2", "", "test", report.TypeSection, 1),
		start(6, "2.1", "2", "ping", report.TypeStep, 1),
		start(7, "2.1.1", "2.1", "count", report.TypeStep, 1),
		end(8, "2.1.1", result.Failed, "lost 3 of 5", 2),
		end(9, "2.1", result.Unset, "", 2),
		end(10, "2", result.Unset, "", 2),
		start(11, "3", "", "cleanup", report.TypeSection, 2),
		end(12, "3", result.Skipped, "nothing to clean", 3),
	)
	var buf bytes.Buffer
	report.WriteText(&buf, "Task-1", result.Failed, "", tr.Sections)

	// Each line: indent, name, dots, the result in upper case and the
	// reason in parentheses if there is one.
	want := []*regexp.Regexp{
		regexp.MustCompile(`^Task-1 \.{2,} FAILED$`),
		regexp.MustCompile(`^  1 setup \.{2,} PASSED$`),
		regexp.MustCompile(`^    1\.1 connect \.{2,} PASSED$`),
		regexp.MustCompile(`^  2 test \.{2,} FAILED$`),
		regexp.MustCompile(`^    2\.1 ping \.{2,} FAILED$`),
		regexp.MustCompile(`^      2\.1\.1 count \.{2,} FAILED  \(lost 3 of 5\)$`),
		regexp.MustCompile(`^  3 cleanup \.{2,} SKIPPED  \(nothing to clean\)$`),
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("WriteText printed %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	col := -1
	for i, l := range lines {
		if !want[i].MatchString(l) {
			t.Errorf("line %d = %q, want it to match %s", i+1, l, want[i])
		}
		// The results line up in one column.
		c := strings.LastIndex(l, ". ") + 2
		if col < 0 {
			col = c
		} else if c != col {
			t.Errorf("line %d: result starts at column %d, want %d:\n%s", i+1, c, col, buf.String())
		}
	}
}

func TestWriteTextTaskReason(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	report.WriteText(&buf, "Task-2", result.Aborted, "stopped: job cancelled", nil)
	if !regexp.MustCompile(`^Task-2 \.{2,} ABORTED  \(stopped: job cancelled\)\n$`).MatchString(buf.String()) {
		t.Errorf("WriteText = %q", buf.String())
	}
}

func TestEventJSON(t *testing.T) {
	t.Parallel()
	ev := report.Event{
		Seq: 7, Kind: report.KindEnd, ID: "1.2", Result: result.Failed, Reason: "r",
		Data: json.RawMessage(`{"a":[1,2]}`), Time: t0, PID: 9,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	wantFields := map[string]any{
		"seq": 7.0, "kind": "end", "id": "1.2", "result": "failed", "reason": "r",
		"data": map[string]any{"a": []any{1.0, 2.0}}, "time": "2025-03-04T10:00:00Z", "pid": 9.0,
	}
	if diff := cmp.Diff(wantFields, m); diff != "" {
		t.Errorf("event JSON (-want +got):\n%s", diff)
	}
	var back report.Event
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, back); diff != "" {
		t.Errorf("event round trip (-want +got):\n%s", diff)
	}
}

// Settle applies what waited behind a gap that will never fill.
func TestSettleSkipsGaps(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	now := time.Now()
	for _, ev := range []report.Event{
		{Seq: 1, Kind: report.KindStart, ID: "1", Name: "a", Time: now},
		{Seq: 3, Kind: report.KindStart, ID: "2", Name: "b", Time: now},
		{Seq: 5, Kind: report.KindEnd, ID: "2", Result: result.Failed, Time: now},
	} {
		if err := tr.Add(ev); err != nil {
			t.Fatal(err)
		}
	}
	if len(tr.Sections) != 1 || tr.Pending() != 2 {
		t.Fatalf("before Settle: %d sections, %d pending", len(tr.Sections), tr.Pending())
	}
	if missing := tr.Settle(); missing != 2 {
		t.Errorf("Settle says %d events missing, want 2 (seq 2 and 4)", missing)
	}
	if len(tr.Sections) != 2 || tr.Sections[1].Result.Value != result.Failed || tr.Pending() != 0 {
		t.Errorf("after Settle: %+v, %d pending", tr.Sections, tr.Pending())
	}
}

// A child process's first step can reach the hub before the start of the
// step it runs under (another process's): it waits for it, with the
// child's later events, instead of being refused.
func TestChildStepWaitsForParent(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	child := func(seq uint64, kind, id, parent string) report.Event {
		return report.Event{Src: "pid-7", Seq: seq, Kind: kind, ID: id, Parent: parent, Name: id, Time: at(1), Result: map[string]result.Result{report.KindEnd: result.Passed}[kind]}
	}
	addAll(t, tr,
		child(1, report.KindStart, "1/7.1", "1"),
		child(2, report.KindEnd, "1/7.1", ""),
		child(3, report.KindStart, "1/7.2", "1"),
	)
	if len(tr.Sections) != 0 || tr.Refused != 0 {
		t.Fatalf("before the parent: %d sections, %d refused", len(tr.Sections), tr.Refused)
	}
	addAll(t, tr, start(1, "1", "", "parent", report.TypeStep, 0))
	if n := len(tr.Sections[0].Sections); n != 2 || tr.Applied("pid-7") != 3 || tr.Refused != 0 {
		t.Fatalf("after the parent: %d children, pid-7 applied %d, %d refused", n, tr.Applied("pid-7"), tr.Refused)
	}
	// A parent that never starts: Settle refuses the step that waits for it
	// and applies the rest in order.
	tr2 := report.NewTree()
	addAll(t, tr2,
		child(1, report.KindStart, "9/7.1", "9"),
		child(2, report.KindStart, "7.2", ""),
	)
	tr2.Settle()
	if tr2.Refused != 1 || len(tr2.Sections) != 1 || tr2.Sections[0].ID != "7.2" || !strings.Contains(tr2.Problems[0], `unknown parent "9"`) {
		t.Errorf("after Settle: %d refused (%q), sections %+v", tr2.Refused, tr2.Problems, tr2.Sections)
	}
}

// Every refusal is counted in the tree, the first few with their
// reasons, and Fault says what to record against the task.
func TestRefusalsAndFault(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	if f := tr.Fault(); f != "" {
		t.Errorf("Fault of a clean tree = %q", f)
	}
	_ = tr.Add(end(1, "9", result.Passed, "", 0))
	if f := tr.Fault(); tr.Refused != 1 || f != `refused 1 event from the task: event 1: end of unknown step "9"` {
		t.Errorf("Fault = %q, %d refused", f, tr.Refused)
	}
	for range report.MaxProblems + 5 {
		tr.Refuse("another")
	}
	if tr.Refused != report.MaxProblems+6 || len(tr.Problems) != report.MaxProblems {
		t.Errorf("%d refused, %d problems kept", tr.Refused, len(tr.Problems))
	}
	if f := tr.Fault(); !strings.HasPrefix(f, "refused 16 events from the task; the first: event 1") {
		t.Errorf("Fault = %q", f)
	}
	tr.Over = "sent more than 5 events (max_task_events)"
	if f := tr.Fault(); f != tr.Over {
		t.Errorf("Fault of a tree over a limit = %q", f)
	}
}
