package console

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/taskhost/taskhost/host/printable"
	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/sdk/result"
)

// Options say what to show.
type Options struct {
	// Quiet shows only the tasks that did not pass; Verbose adds each
	// section and step as it ends.
	Quiet, Verbose bool
	// Packs gives each task's pack, by task id; Tasks is how many tasks the
	// run has.
	Packs map[string]string
	Tasks int
	// Live forces the live view (true) or plain lines (false); nil picks
	// the live view when the output is a terminal and TERM is not dumb.
	Live *bool
}

// View shows a run's events.
type View interface {
	// Event shows one event of the run; events come one at a time.
	Event(runner.Event)
	// Close ends the view once the run is over: the live view is taken
	// off the screen, what was printed above it stays.
	Close()
}

// New returns the view for w.
func New(w io.Writer, o Options) View {
	live := IsTerminal(w) && os.Getenv("TERM") != "dumb"
	if o.Live != nil {
		live = *o.Live
	}
	if live {
		return newLive(w, o)
	}
	return &plain{w: w, o: o, started: map[string]time.Time{}, attempts: map[string]int{}, steps: map[string]string{}}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// plain writes a timestamped line per event worth a line.
type plain struct {
	w        io.Writer
	o        Options
	mu       sync.Mutex
	started  map[string]time.Time
	attempts map[string]int
	steps    map[string]string // "task step" to the step's name
}

func (p *plain) Event(e runner.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if line := p.line(e); line != "" {
		fmt.Fprintf(p.w, "%s %s\n", e.Time.Local().Format("15:04:05"), printable.Text(line))
	}
}

func (p *plain) line(e runner.Event) string {
	switch e.Type {
	case runner.EventJobStarted:
		if p.o.Quiet {
			return ""
		}
		return fmt.Sprintf("job %s started: %d tasks, run directory %s", e.Name, p.o.Tasks, e.RunDir)
	case runner.EventTaskStarted:
		p.attempts[e.Task]++
		if _, ok := p.started[e.Task]; !ok {
			p.started[e.Task] = e.Time
		}
		if p.o.Quiet {
			return ""
		}
		where := fmt.Sprintf("pid %d", e.PID)
		if e.Agent != "" {
			where = fmt.Sprintf("agent %s, pid %d", e.Agent, e.PID)
		}
		if n := p.attempts[e.Task]; n > 1 {
			return fmt.Sprintf("%s started again, attempt %d (%s)", e.Task, n, where)
		}
		return fmt.Sprintf("%s started (pack %s, %s)", e.Task, p.o.Packs[e.Task], where)
	case runner.EventStepStarted:
		if p.o.Verbose {
			p.steps[e.Task+" "+e.Step] = e.Name
		}
	case runner.EventStepFinished:
		if !p.o.Verbose {
			return ""
		}
		key := e.Task + " " + e.Step
		name := p.steps[key]
		delete(p.steps, key)
		return strings.TrimRight(fmt.Sprintf("%s %s %s: %s%s", e.Task, e.Step, name, upper(e.Result), because(e.Reason)), " ")
	case runner.EventTaskFinished:
		if p.o.Quiet && e.Result.Success() {
			return ""
		}
		if start, ok := p.started[e.Task]; ok {
			return fmt.Sprintf("%s %s in %s%s", e.Task, upper(e.Result), e.Time.Sub(start).Round(time.Millisecond), because(e.Reason))
		}
		return strings.TrimRight(fmt.Sprintf("%s %s %s", e.Task, upper(e.Result), firstLine(e.Reason)), " ")
	case runner.EventStoreFailed, runner.EventStoreRecovered:
		return e.Reason // even with -q: it is why tasks will not pass
	case runner.EventJobFinished:
		if p.o.Quiet {
			return ""
		}
		return fmt.Sprintf("job %s ended %s", e.Name, upper(e.Result))
	}
	return ""
}

func (p *plain) Close() {}

func upper(r result.Result) string { return strings.ToUpper(r.String()) }

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + firstLine(reason) + ")"
}

// firstLine is the first line of s, cut to 160 characters.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 160 {
		s = string(r[:157]) + "..."
	}
	return s
}

// shown is e with the text a pack or a jobfile gave it made safe to show
// (the reason cut to its first line first).
func shown(e runner.Event) runner.Event {
	e.Task, e.Step, e.Name, e.RunDir, e.Agent = printable.Text(e.Task), printable.Text(e.Step), printable.Text(e.Name), printable.Text(e.RunDir), printable.Text(e.Agent)
	if e.Reason != "" {
		e.Reason = printable.Text(firstLine(e.Reason))
	}
	return e
}
