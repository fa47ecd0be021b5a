package htmlreport

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"time"

	"github.com/taskhost/taskhost/host/printable"
	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

var (
	//go:embed assets/report.html.tmpl
	pageSource string
	//go:embed assets/report.css
	css string
	//go:embed assets/report.js
	js string
)

// page has the parts of the page, executed in turn by Render: head, then
// task and end-task around each task's tree (written by hand), end-tree,
// the log files (by hand), tail.
var page = template.Must(template.New("report").Parse(pageSource))

// MaxLogBytes bounds the log files put into a report, all together: past
// it, a file's lines are not in the page, and its steps say which command
// prints them.
var MaxLogBytes int64 = 64 << 20

// Write writes the report of the run in runDir, whose record is f, to
// path, atomically.
func Write(path, runDir string, f *results.File) error {
	if err := results.WriteAtomic(path, func(w *bufio.Writer) error { return Render(w, runDir, f) }); err != nil {
		return fmt.Errorf("write report.html: %w", err)
	}
	return nil
}

// The page's data.
type (
	pageData struct {
		CSS     template.CSS
		JS      template.JS
		R       *results.Report
		Result  string
		Counts  []count
		Start   string
		Runtime string
	}
	count struct {
		Result string
		N      int
	}
	taskView struct {
		ID, Pack, Task, Result, Reason, Runtime, Start string
		PID                                            int
		Attempts                                       int
		Data                                           string
		Logfile                                        string
		LogFile                                        int // index of its task.log among the page's logs, or -1
		Success                                        bool
	}
)

// logs numbers the log files that go into the page, within MaxLogBytes.
type logs struct {
	dir    string
	budget int64
	index  map[string]int
	files  []string
	dirs   []string // the directory each file was let in for
	cuts   []cuts   // each file's lines too long for the page
	// refused says why each file (and the directory it was asked for in)
	// is not in the page: asked for again by each of a task's steps, it
	// is not read again.
	refused map[[2]string]string
}

// get returns the index of file, a log file of the task whose directory
// is dir, in the page, or -1 and why it is not there. Only a file in the
// task's own directory goes in (results.OpenLog).
func (l *logs) get(file, dir string) (int, string) {
	if i, ok := l.index[file]; ok && l.dirs[i] == dir {
		return i, ""
	}
	if why, ok := l.refused[[2]string{file, dir}]; ok {
		return -1, why
	}
	i, why := l.add(file, dir)
	if i < 0 {
		if l.refused == nil {
			l.refused = map[[2]string]string{}
		}
		l.refused[[2]string{file, dir}] = why
	}
	return i, why
}

// openLog opens a log file for the page (a test counts the calls).
var openLog = results.OpenLog

// add reads file for the page, as get says.
func (l *logs) add(file, dir string) (int, string) {
	f, err := openLog(l.dir, dir, file)
	if err != nil {
		return -1, fmt.Sprintf("log file %s not read: %v", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return -1, fmt.Sprintf("log file %s not read: %v", file, err)
	}
	var cs cuts
	if st.Size() > MaxLineBytes {
		if cs, err = findCuts(f, file, MaxLineBytes); err != nil {
			return -1, fmt.Sprintf("log file %s not read: %v", file, err)
		}
	}
	size := cs.size(st.Size())
	if size > l.budget {
		return -1, fmt.Sprintf("%s is too large for the page", file)
	}
	l.budget -= size
	i := len(l.files)
	l.files = append(l.files, file)
	l.dirs = append(l.dirs, dir)
	l.cuts = append(l.cuts, cs)
	l.index[file] = i
	return i, ""
}

// Render writes the page, a task at a time.
func Render(w io.Writer, runDir string, f *results.File) error {
	r := &f.Report
	d := &pageData{CSS: template.CSS(css), JS: template.JS(js), R: r, Result: r.Result.String(),
		Start: r.StartTime.Local().Format("2006-01-02 15:04:05 MST"), Runtime: dur(r.Runtime), Counts: counts(r.Summary)}
	if err := page.ExecuteTemplate(w, "head", d); err != nil {
		return err
	}
	l := &logs{dir: runDir, budget: MaxLogBytes, index: map[string]int{}}
	bw := bufio.NewWriter(w)
	for _, t := range r.Tasks {
		tv := &taskView{ID: printable.Text(t.ID), Pack: t.Pack, Task: t.Task, Result: t.Result.Value.String(), Reason: printable.Text(t.Result.Reason),
			Runtime: dur(t.Runtime), PID: t.PID, Attempts: len(t.Attempts), Data: pretty(t.Result.Data),
			Logfile: t.Logfile, LogFile: -1, Success: t.Result.Value.Success()}
		if !t.StartTime.IsZero() {
			tv.Start = t.StartTime.Local().Format("15:04:05.000")
		}
		if t.Logfile != "" && report.Len(t.Spool, t.Sections) == 0 {
			tv.LogFile, _ = l.get(t.Logfile, results.TaskDir(t.ID))
		}
		if err := page.ExecuteTemplate(bw, "task", tv); err != nil {
			return err
		}
		err := report.Each(t.Spool, t.Sections, func(n *report.Node) error {
			writeNodes(bw, l, t.ID, results.TaskDir(t.ID), []*report.Node{n})
			return nil
		})
		if err != nil {
			return err
		}
		if err := page.ExecuteTemplate(bw, "end-task", nil); err != nil {
			return err
		}
	}
	if err := page.ExecuteTemplate(bw, "end-tree", nil); err != nil {
		return err
	}
	// Each log file once, as base64, for the script to cut steps' lines
	// out of when asked.
	for i, file := range l.files {
		fmt.Fprintf(bw, `<div class="logdata" hidden data-index="%d" data-file="%s" data-b64="`, i, html.EscapeString(file))
		enc := base64.NewEncoder(base64.StdEncoding, bw)
		if err := copyLog(enc, runDir, l.dirs[i], file, l.cuts[i]); err != nil {
			fmt.Fprintf(enc, "\n(%s could not be read: %v)\n", file, err)
		}
		enc.Close()
		bw.WriteString("\"></div>\n")
	}
	if err := page.ExecuteTemplate(bw, "tail", d); err != nil {
		return err
	}
	return bw.Flush()
}

// writeNodes writes a tree of sections and steps by hand, every value
// escaped with html.EscapeString: html/template takes some 10 µs a node,
// which is seconds for a task of 100,000 steps (bench/reports_test.go).
func writeNodes(b *bufio.Writer, l *logs, task, dir string, ns []*report.Node) {
	e := html.EscapeString
	// Text a pack sent, shown with its control characters escaped.
	shown := func(s string) string { return e(printable.Text(s)) }
	for _, n := range ns {
		res := n.Result.Value.String()
		ok := ""
		if n.Result.Value.Success() {
			ok = " ok"
		}
		fmt.Fprintf(b, `<div class="node %s%s" data-step="%s" data-result="%s"><div class="row">`, e(n.Type), ok, e(n.ID), res)
		if len(n.Sections) > 0 {
			b.WriteString(`<button type="button" class="fold" aria-label="fold">▾</button>`)
		} else {
			b.WriteString(`<span class="fold"></span>`)
		}
		fmt.Fprintf(b, `<span class="badge r-%s">%s</span><span class="id">%s</span><span class="name">%s</span><span class="time">%s</span>`,
			res, res, shown(n.ID), shown(n.Name), dur(n.Runtime))
		if n.Result.Reason != "" {
			fmt.Fprintf(b, `<span class="reason">%s</span>`, shown(n.Result.Reason))
		}
		switch i, why := -1, "no log lines on record for this step"; {
		case n.Logs != nil:
			if i, why = l.get(n.Logs.File, dir); i >= 0 {
				// Where its lines are in the page's copy of the file.
				cs := l.cuts[i]
				begin := cs.pos(n.Logs.Begin, false)
				fmt.Fprintf(b, `<button type="button" class="logbtn" data-log="%d" data-begin="%d" data-size="%d">log</button>`, i, begin, cs.pos(n.Logs.Begin+n.Logs.Size, true)-begin)
				break
			}
			why += "; `taskhost logs RUNDIR " + task + " " + n.ID + "` prints them"
			fallthrough
		default:
			fmt.Fprintf(b, `<span class="nolog" title="%s">no log</span>`, e(why))
		}
		b.WriteString(`</div>`)
		if data := pretty(n.Result.Data); data != "" {
			fmt.Fprintf(b, `<pre class="data">%s</pre>`, e(data))
		}
		b.WriteString(`<pre class="log" hidden></pre>`)
		if len(n.Sections) > 0 {
			b.WriteString(`<div class="kids">`)
			writeNodes(b, l, task, dir, n.Sections)
			b.WriteString(`</div>`)
		}
		b.WriteString("</div>\n")
	}
}

func counts(s results.Summary) []count {
	n := map[result.Result]int{result.Passed: s.Passed, result.Passx: s.Passx, result.Failed: s.Failed,
		result.Errored: s.Errored, result.Aborted: s.Aborted, result.Blocked: s.Blocked, result.Skipped: s.Skipped}
	var out []count
	for _, r := range []result.Result{result.Passed, result.Passx, result.Failed, result.Errored, result.Aborted, result.Blocked, result.Skipped} {
		out = append(out, count{Result: r.String(), N: n[r]})
	}
	return out
}

func dur(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

func pretty(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

// copyLog copies a log file that get let into the page, opened the same
// way again, with its cuts.
func copyLog(w io.Writer, runDir, dir, file string, cs cuts) error {
	f, err := results.OpenLog(runDir, dir, file)
	if err != nil {
		return err
	}
	defer f.Close()
	return cs.copy(w, f)
}
