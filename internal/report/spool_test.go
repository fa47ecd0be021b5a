package report_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// manyEvents makes n top-level sections, each with a step under it; the
// 5th section fails with a reason in its step, the 7th errors.
func manyEvents(n int) []report.Event {
	var evs []report.Event
	seq := uint64(0)
	add := func(ev report.Event) {
		seq++
		ev.Seq = seq
		evs = append(evs, ev)
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprint(i)
		r, why := result.Passed, ""
		switch i {
		case 5:
			r, why = result.Failed, "told to fail"
		case 7:
			r, why = result.Errored, "it broke"
		}
		add(start(0, id, "", "section "+id, report.TypeSection, float64(i)))
		add(start(0, id+".1", id, "step", report.TypeStep, float64(i)+0.1))
		ev := end(0, id+".1", r, why, float64(i)+0.5)
		ev.Logs = &report.LogRef{File: "tasks/x/task.log", Begin: int64(i * 10), Size: 10}
		ev.Data = json.RawMessage(`{"i":` + id + `}`)
		add(ev)
		add(end(0, id, result.Unset, "", float64(i)+0.75))
	}
	return evs
}

// A tree that spills holds at most twice SpillKeep top-level sections, and
// gives back, from its spool and what it kept, exactly the sections of a
// tree that does not; its result and the reason a seal finds agree too.
func TestTreeSpills(t *testing.T) {
	t.Parallel()
	for _, spool := range []func() report.Spool{
		func() report.Spool { return &report.MemSpool{} },
		func() report.Spool { return report.NewFileSpool(filepath.Join(t.TempDir(), "spill", "t1")) },
	} {
		whole, spilling := report.NewTree(), report.NewTree()
		spilling.Spill, spilling.SpillKeep = spool(), 3
		for _, ev := range manyEvents(20) {
			addAll(t, whole, ev)
			addAll(t, spilling, ev)
			if len(spilling.Sections) > 2*3+1 {
				t.Fatalf("the spilling tree holds %d top-level sections, want at most 7", len(spilling.Sections))
			}
		}
		if spilling.Spilled() == 0 || spilling.Spilled() != spilling.Spill.Len() {
			t.Fatalf("spilled %d, spool holds %d: want some, the same", spilling.Spilled(), spilling.Spill.Len())
		}
		sp, kept := spilling.Taken()
		all, err := report.All(sp, kept)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(whole.Sections, all, ignoreOpen); d != "" {
			t.Errorf("%T: the spilled tree's sections differ (-whole +spilled):\n%s", spilling.Spill, d)
		}
		if a, b := mustMarshal(t, whole.Sections), mustMarshal(t, all); a != b {
			t.Errorf("%T: the sections do not encode the same:\n%s\n%s", spilling.Spill, a, b)
		}
		if whole.Result() != spilling.Result() {
			t.Errorf("result %s, want %s", spilling.Result(), whole.Result())
		}
		for _, r := range []result.Result{result.Failed, result.Errored, result.Passed} {
			if got, want := spilling.Reason(r), report.FirstReason(r, whole.Sections); got != want {
				t.Errorf("Reason(%s) = %q, want %q", r, got, want)
			}
		}
		if want := "5.1 step: told to fail"; spilling.Reason(result.Failed) != want {
			t.Errorf("Reason(failed) = %q, want %q", spilling.Reason(result.Failed), want)
		}
	}
}

// A section that is still open is not spilled, nor any after it.
func TestTreeSpillsOnlyWhatEnded(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	tr.Spill, tr.SpillKeep = &report.MemSpool{}, 1
	addAll(t, tr, start(1, "open", "", "open", report.TypeSection, 0))
	seq := uint64(1)
	for i := range 10 {
		id := fmt.Sprint(i)
		seq++
		addAll(t, tr, start(seq, id, "", id, report.TypeStep, 1))
		seq++
		addAll(t, tr, end(seq, id, result.Passed, "", 2))
	}
	if tr.Spilled() != 0 || len(tr.Sections) != 11 {
		t.Fatalf("spilled %d, kept %d; want 0 and 11", tr.Spilled(), len(tr.Sections))
	}
	seq++
	addAll(t, tr, end(seq, "open", result.Passed, "", 3))
	if tr.Spilled() != 10 || len(tr.Sections) != 1 || tr.Sections[0].ID != "9" {
		t.Fatalf("spilled %d, kept %d; want 10 and 1 (the last)", tr.Spilled(), len(tr.Sections))
	}
}

// A spilled section's ids are forgotten: a step started under it later
// waits for it, and is refused when the tree settles.
func TestTreeForgetsSpilled(t *testing.T) {
	t.Parallel()
	tr := report.NewTree()
	tr.Spill, tr.SpillKeep = &report.MemSpool{}, 1
	addAll(t, tr, manyEvents(3)...)
	if tr.Spilled() != 2 {
		t.Fatalf("spilled %d, want 2", tr.Spilled())
	}
	addAll(t, tr, report.Event{Src: "child", Seq: 1, Kind: report.KindStart, ID: "c1", Parent: "1", Name: "late", Time: at(9)})
	tr.Settle()
	if tr.Refused != 1 {
		t.Errorf("refused %d, want 1", tr.Refused)
	}
}

// A file spool gives back times in their zones, data and log references.
func TestFileSpoolRoundTrip(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("", 2*3600)
	ns := []*report.Node{
		{Type: report.TypeSection, ID: "1", Name: "a", StartTime: t0, StopTime: t0.Add(time.Second), Runtime: 1, PID: 7,
			Result: report.Outcome{Value: result.Failed, Reason: "why", Data: json.RawMessage(`{"a":[1,2]}`)},
			Sections: []*report.Node{{Type: report.TypeStep, ID: "1.1", Name: "b", StartTime: t0.In(zone), StopTime: t0.In(zone).Add(1500 * time.Microsecond),
				Runtime: 0.0015, Result: report.Outcome{Value: result.Failed}, Logs: &report.LogRef{File: "tasks/t/task.log", Begin: 3, Size: 9}}}},
		{Type: report.TypeStep, ID: "2", Name: "c", StartTime: t0, Result: report.Outcome{Value: result.Passed}},
	}
	s := report.NewFileSpool(filepath.Join(t.TempDir(), "s"))
	for _, n := range ns {
		if err := s.Add(n); err != nil {
			t.Fatal(err)
		}
	}
	back, err := report.All(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustMarshal(t, ns), mustMarshal(t, back); a != b {
		t.Errorf("read back:\n%s\nwant:\n%s", b, a)
	}
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
