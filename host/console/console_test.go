package console

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/sdk/result"
)

var t0 = time.Date(2026, 11, 27, 4, 0, 0, 0, time.Local)

func events() []runner.Event {
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	return []runner.Event{
		{Type: runner.EventJobStarted, Time: at(0), Name: "j", RunDir: "/runs/j.1"},
		{Type: runner.EventTaskStarted, Time: at(10), Task: "a", PID: 7},
		{Type: runner.EventTaskStarted, Time: at(20), Task: "b", PID: 8, Agent: "a1"},
		{Type: runner.EventStepStarted, Time: at(30), Task: "b", Step: "1", Name: "check"},
		{Type: runner.EventStepFinished, Time: at(40), Task: "b", Step: "1", Result: result.Failed, Reason: "bad\nmore"},
		{Type: runner.EventTaskFinished, Time: at(50), Task: "b", Result: result.Failed, Reason: "1 check: bad"},
		{Type: runner.EventTaskFinished, Time: at(60), Task: "c", Result: result.Blocked, Reason: "dependency b ended Failed"},
	}
}

func TestPlainLines(t *testing.T) {
	no := false
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, `04:00:00 job j started: 3 tasks, run directory /runs/j.1
04:00:00 a started (pack p, pid 7)
04:00:00 b started (pack p, agent a1, pid 8)
04:00:00 b FAILED in 30ms (1 check: bad)
04:00:00 c BLOCKED dependency b ended Failed
`},
		{Options{Quiet: true}, `04:00:00 b FAILED in 30ms (1 check: bad)
04:00:00 c BLOCKED dependency b ended Failed
`},
		{Options{Verbose: true}, `04:00:00 job j started: 3 tasks, run directory /runs/j.1
04:00:00 a started (pack p, pid 7)
04:00:00 b started (pack p, agent a1, pid 8)
04:00:00 b 1 check: FAILED (bad)
04:00:00 b FAILED in 30ms (1 check: bad)
04:00:00 c BLOCKED dependency b ended Failed
`},
	} {
		var b bytes.Buffer
		tc.o.Live, tc.o.Tasks, tc.o.Packs = &no, 3, map[string]string{"a": "p", "b": "p", "c": "p"}
		v := New(&b, tc.o)
		for _, e := range events() {
			v.Event(e)
		}
		v.Close()
		if b.String() != tc.want {
			t.Errorf("%+v:\n%s\nwant\n%s", tc.o, b.String(), tc.want)
		}
	}
}

func TestLiveModel(t *testing.T) {
	m := &model{o: Options{Tasks: 3}, running: map[string]*running{}, counts: map[result.Result]int{},
		style: newStyles(lipgloss.NewRenderer(&bytes.Buffer{}))}
	for _, e := range events() {
		m.event(e)
	}
	m.now = t0.Add(2500 * time.Millisecond)
	got := m.View()
	for _, want := range []string{"taskhost j  2/3 tasks ended, 1 running  2s", "1 failed  1 blocked",
		"latest failure: c BLOCKED (dependency b ended Failed)", "▸ a 2.4s"} {
		if !strings.Contains(got, want) {
			t.Errorf("view lacks %q:\n%s", want, got)
		}
	}
	m.closed = true
	if m.View() != "" {
		t.Errorf("the view stays after it is closed")
	}
}

// The live view cuts its lines to the terminal's width and erases itself
// before printing lines above it.
func TestLiveDrawFitsTheWidth(t *testing.T) {
	var b bytes.Buffer
	m := &model{o: Options{Tasks: 3}, running: map[string]*running{}, counts: map[result.Result]int{},
		style: newStyles(lipgloss.NewRenderer(&bytes.Buffer{}))}
	l := &live{w: &b, m: m, size: func() (int, int) { return 20, 10 }}
	for _, e := range events() {
		if line := m.event(e); line != "" {
			l.pending = append(l.pending, line)
		}
	}
	l.draw()
	m.closed = true
	l.draw()
	out := b.String()
	if !strings.Contains(out, "c BLOCKED (dependency b ended Failed)") {
		t.Errorf("a line printed above the view is cut:\n%q", out)
	}
	view := out[strings.LastIndex(out, "Failed)\r\n")+len("Failed)\r\n"):]
	for _, line := range strings.Split(view, "\r\n") {
		if i := strings.Index(line, "\r"); i >= 0 {
			line = line[:i] // the next frame's start
		}
		if w := ansi.StringWidth(line); w > 20 {
			t.Errorf("a line of the view is %d wide on a terminal of 20 columns: %q", w, line)
		}
	}
	// Closed, the view's four rows are erased and nothing is drawn.
	if want := "\r" + ansi.CursorUp(3) + ansi.EraseScreenBelow; l.drawn != 0 || !strings.HasSuffix(out, want) {
		t.Errorf("the closed view is not erased (%d rows drawn): %q", l.drawn, out)
	}
}
