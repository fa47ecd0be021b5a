package console

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"

	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/sdk/result"
)

// maxRunning is how many running tasks the live view lists.
const maxRunning = 12

// frame is how often the live view is redrawn when something changed;
// clock how often its times move on.
const (
	frame = 50 * time.Millisecond
	clock = 250 * time.Millisecond
)

// live is the view on a terminal: lines for tasks that ended scroll above
// a block that is redrawn in place. It draws without asking the terminal
// anything: the width and height come from the kernel (the window size of
// the terminal), the colours from the environment (TERM, NO_COLOR), so a
// terminal that does not answer queries holds nothing up.
type live struct {
	w    io.Writer
	size func() (cols, rows int)

	mu      sync.Mutex
	m       *model
	pending []string // lines to print above the view
	dirty   bool
	drawn   int // rows the view took when last drawn

	stop chan struct{}
	done chan struct{}
}

func newLive(w io.Writer, o Options) *live {
	m := &model{o: o, running: map[string]*running{}, counts: map[result.Result]int{}, now: time.Now(),
		style: newStyles(lipgloss.NewRenderer(w))}
	l := &live{w: w, m: m, size: windowSize(w), dirty: true, stop: make(chan struct{}), done: make(chan struct{})}
	io.WriteString(w, ansi.HideCursor)
	go l.loop()
	return l
}

// windowSize returns how to read the size of the terminal w is; 0 when
// it is not known.
func windowSize(w io.Writer) func() (int, int) {
	f, ok := w.(*os.File)
	return func() (int, int) {
		if !ok {
			return 0, 0
		}
		cols, rows, err := term.GetSize(f.Fd())
		if err != nil {
			return 0, 0
		}
		return cols, rows
	}
}

func (l *live) loop() {
	defer close(l.done)
	draw, tick := time.NewTicker(frame), time.NewTicker(clock)
	defer draw.Stop()
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			l.mu.Lock()
			l.m.closed = true
			l.draw()
			io.WriteString(l.w, ansi.ShowCursor)
			l.mu.Unlock()
			return
		case t := <-tick.C:
			l.mu.Lock()
			if t.After(l.m.now) {
				l.m.now = t
			}
			l.dirty = true
			l.mu.Unlock()
		case <-draw.C:
			l.mu.Lock()
			if l.dirty {
				l.draw()
			}
			l.mu.Unlock()
		}
	}
}

func (l *live) Event(e runner.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if line := l.m.event(e); line != "" {
		l.pending = append(l.pending, line)
	}
	l.dirty = true
}

func (l *live) Close() {
	close(l.stop)
	<-l.done
}

// draw erases the view drawn last, prints the pending lines above where
// it was, and draws the view again below them. The view's lines are cut
// to the terminal's width, so each takes one row and the cursor goes
// back up exactly over them; it is erased to the end of the screen first,
// so a printed line that wraps leaves nothing of it behind.
func (l *live) draw() {
	var b strings.Builder
	b.WriteString("\r")
	if l.drawn > 1 {
		b.WriteString(ansi.CursorUp(l.drawn - 1))
	}
	b.WriteString(ansi.EraseScreenBelow)
	for _, line := range l.pending {
		b.WriteString(line + "\r\n")
	}
	l.pending = l.pending[:0]
	view := strings.Split(strings.TrimSuffix(l.m.View(), "\n"), "\n")
	if len(view) == 1 && view[0] == "" {
		view = nil
	}
	cols, rows := l.size()
	if rows > 1 && len(view) > rows-1 {
		view = view[:rows-1]
	}
	for i, line := range view {
		if cols > 0 {
			line = ansi.Truncate(line, cols, "")
		}
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(line)
	}
	l.drawn, l.dirty = len(view), false
	io.WriteString(l.w, b.String())
}

type running struct {
	start   time.Time
	step    string
	attempt int
}

type model struct {
	o       Options
	style   styles
	job     string
	start   time.Time
	now     time.Time
	running map[string]*running
	counts  map[result.Result]int
	ended   int
	failure string
	closed  bool
}

type styles struct {
	result map[result.Result]lipgloss.Style
	dim    lipgloss.Style
	bold   lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	colors := map[result.Result]string{result.Passed: "2", result.Passx: "6", result.Failed: "1", result.Errored: "3",
		result.Aborted: "5", result.Blocked: "3", result.Skipped: "8"}
	s := styles{result: map[result.Result]lipgloss.Style{}, dim: r.NewStyle().Faint(true), bold: r.NewStyle().Bold(true)}
	for res, c := range colors {
		s.result[res] = r.NewStyle().Foreground(lipgloss.Color(c)).Bold(true)
	}
	return s
}

// event updates the view and returns a line to print above it, if any.
func (m *model) event(e runner.Event) string {
	e = shown(e)
	if e.Time.After(m.now) {
		m.now = e.Time
	}
	var line string
	switch e.Type {
	case runner.EventJobStarted:
		m.job, m.start = e.Name, e.Time
		if !m.o.Quiet {
			line = fmt.Sprintf("job %s: %d tasks, run directory %s", e.Name, m.o.Tasks, e.RunDir)
		}
	case runner.EventTaskStarted:
		r := m.running[e.Task]
		if r == nil {
			r = &running{start: e.Time}
			m.running[e.Task] = r
		}
		r.attempt++
		r.step = ""
		if r.attempt > 1 && !m.o.Quiet {
			line = fmt.Sprintf("%s started again, attempt %d", e.Task, r.attempt)
		}
	case runner.EventStepStarted:
		if r := m.running[e.Task]; r != nil {
			r.step = e.Step + " " + e.Name
		}
	case runner.EventStepFinished:
		if m.o.Verbose {
			line = fmt.Sprintf("%s %s %s%s", e.Task, e.Step, m.res(e.Result), because(e.Reason))
		}
	case runner.EventStoreFailed, runner.EventStoreRecovered:
		line = e.Reason
	case runner.EventTaskFinished:
		m.ended++
		m.counts[e.Result]++
		took := ""
		if r := m.running[e.Task]; r != nil {
			took = " in " + e.Time.Sub(r.start).Round(time.Millisecond).String()
			delete(m.running, e.Task)
		}
		if !e.Result.Success() {
			m.failure = fmt.Sprintf("%s %s%s", e.Task, m.res(e.Result), because(e.Reason))
		}
		if !m.o.Quiet || !e.Result.Success() {
			line = fmt.Sprintf("%s %s%s%s", e.Task, m.res(e.Result), took, because(e.Reason))
		}
	}
	if line == "" {
		return ""
	}
	return m.style.dim.Render(e.Time.Local().Format("15:04:05")) + " " + line
}

func (m *model) res(r result.Result) string {
	return m.style.result[r].Render(strings.ToUpper(r.String()))
}

func (m *model) View() string {
	if m.closed {
		return ""
	}
	var b strings.Builder
	elapsed := time.Duration(0)
	if !m.start.IsZero() {
		elapsed = m.now.Sub(m.start).Truncate(time.Second)
	}
	fmt.Fprintf(&b, "%s %s  %d/%d tasks ended, %d running  %s\n", m.style.bold.Render("taskhost"), m.job,
		m.ended, m.o.Tasks, len(m.running), m.style.dim.Render(elapsed.String()))
	var cs []string
	for _, r := range []result.Result{result.Passed, result.Passx, result.Failed, result.Errored, result.Aborted, result.Blocked, result.Skipped} {
		if n := m.counts[r]; n > 0 {
			cs = append(cs, m.style.result[r].Render(fmt.Sprintf("%d %s", n, r)))
		}
	}
	if len(cs) == 0 {
		cs = append(cs, m.style.dim.Render("no task has ended yet"))
	}
	b.WriteString("  " + strings.Join(cs, "  ") + "\n")
	if m.failure != "" {
		b.WriteString("  latest failure: " + m.failure + "\n")
	}
	ids := make([]string, 0, len(m.running))
	for id := range m.running {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		a, c := m.running[ids[i]], m.running[ids[j]]
		if !a.start.Equal(c.start) {
			return a.start.Before(c.start)
		}
		return ids[i] < ids[j]
	})
	for i, id := range ids {
		if i == maxRunning {
			fmt.Fprintf(&b, "  … and %d more running\n", len(ids)-maxRunning)
			break
		}
		r := m.running[id]
		fmt.Fprintf(&b, "  ▸ %s %s", id, m.style.dim.Render(m.now.Sub(r.start).Truncate(100*time.Millisecond).String()))
		if m.o.Verbose && r.step != "" {
			fmt.Fprintf(&b, "  %s", r.step)
		}
		b.WriteString("\n")
	}
	return b.String()
}
