package console

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/sdk/result"
)

// maxRunning is how many running tasks the live view lists.
const maxRunning = 12

// live is the view on a terminal: lines for tasks that ended scroll above
// a block that is redrawn in place.
type live struct {
	p    *tea.Program
	done chan struct{}
}

type (
	eventMsg runner.Event
	tickMsg  time.Time
	closeMsg struct{}
)

func newLive(w io.Writer, o Options) *live {
	m := &model{o: o, running: map[string]*running{}, counts: map[result.Result]int{}, now: time.Now(),
		style: newStyles(lipgloss.NewRenderer(w))}
	l := &live{done: make(chan struct{})}
	l.p = tea.NewProgram(m, tea.WithOutput(w), tea.WithInput(nil), tea.WithoutSignalHandler())
	go func() {
		defer close(l.done)
		_, _ = l.p.Run()
	}()
	return l
}

func (l *live) Event(e runner.Event) { l.p.Send(eventMsg(e)) }

func (l *live) Close() {
	l.p.Send(closeMsg{})
	<-l.done
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

func tick() tea.Cmd {
	return tea.Tick(250*time.Millisecond, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m *model) Init() tea.Cmd { return tick() }

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tickMsg:
		m.now = time.Time(msg)
		if m.closed {
			return m, nil
		}
		return m, tick()
	case closeMsg:
		m.closed = true
		return m, tea.Quit
	case eventMsg:
		return m, m.event(runner.Event(msg))
	}
	return m, nil
}

// event updates the view and returns a line to print above it, if any.
func (m *model) event(e runner.Event) tea.Cmd {
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
		return nil
	}
	return tea.Println(m.style.dim.Render(e.Time.Local().Format("15:04:05")) + " " + line)
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
