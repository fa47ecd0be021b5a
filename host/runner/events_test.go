package runner

import (
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// A step's step_finished says how long it took since its step_started,
// per task and process.
func TestStepClock(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &stepClock{}
	for _, tc := range []struct {
		task string
		ev   report.Event
		want float64
	}{
		{"a", report.Event{Kind: report.KindStart, ID: "1", Src: "p1", Time: t0}, 0},
		{"b", report.Event{Kind: report.KindStart, ID: "1", Src: "p1", Time: t0.Add(time.Second)}, 0},
		{"a", report.Event{Kind: report.KindStart, ID: "1", Src: "p2", Time: t0.Add(2 * time.Second)}, 0},
		{"a", report.Event{Kind: report.KindEnd, ID: "1", Src: "p1", Result: result.Passed, Time: t0.Add(1500 * time.Millisecond)}, 1.5},
		{"a", report.Event{Kind: report.KindEnd, ID: "1", Src: "p2", Result: result.Passed, Time: t0.Add(2250 * time.Millisecond)}, 0.25},
		{"b", report.Event{Kind: report.KindEnd, ID: "1", Src: "p1", Result: result.Failed, Time: t0.Add(4 * time.Second)}, 3},
		{"b", report.Event{Kind: report.KindEnd, ID: "2", Src: "p1", Result: result.Failed, Time: t0.Add(4 * time.Second)}, 0}, // never started
	} {
		e, ok := c.fromReport(tc.task, tc.ev)
		if !ok || e.Duration != tc.want {
			t.Errorf("%s %+v: %v %v, want duration %v", tc.task, tc.ev, ok, e.Duration, tc.want)
		}
	}
	if len(c.starts) != 0 {
		t.Errorf("starts left: %v", c.starts)
	}
}
