package htmlreport

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/result"
)

var (
	//go:embed assets/report.html.tmpl
	pageSource string
	//go:embed assets/report.css
	css string
	//go:embed assets/report.js
	js string
)

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"lower": strings.ToLower,
}).Parse(pageSource))

// MaxLogBytes bounds the log files put into a report, all together: past
// it, a file's lines are not in the page, and its steps say which command
// prints them.
var MaxLogBytes int64 = 64 << 20

// Write writes the report of the run in runDir, whose record is f, to
// path, atomically.
func Write(path, runDir string, f *results.File) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(tmp, 256<<10)
	err = Render(w, runDir, f)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write report.html: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// Render writes the page.
func Render(w io.Writer, runDir string, f *results.File) error {
	return page.Execute(w, build(runDir, f))
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
		Tasks   []*taskView
		Logs    []logFile
		Notes   []string
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
		LogFile                                        int // index in Logs of its task.log, or -1
		Nodes                                          []*nodeView
		Success                                        bool
		Counts                                         []count
	}
	nodeView struct {
		Task, ID, Type, Name, Result, Reason, Runtime, Data string
		Success                                             bool
		// Log is the index in Logs of the file its lines are in, -1 for none.
		Log         int
		Begin, Size int64
		NoLog       string // why its lines are not in the page
		Nodes       []*nodeView
	}
	logFile struct {
		Index int
		Name  string
		B64   string
	}
)

func build(runDir string, f *results.File) *pageData {
	r := &f.Report
	d := &pageData{CSS: template.CSS(css), JS: template.JS(js), R: r, Result: r.Result.String(),
		Start: r.StartTime.Local().Format("2006-01-02 15:04:05 MST"), Runtime: dur(r.Runtime)}
	d.Counts = counts(r.Summary)
	logs := results.NewLogReader(runDir, 0)
	index := map[string]int{}
	var budget = MaxLogBytes
	logIndex := func(file string) (int, string) {
		if i, ok := index[file]; ok {
			return i, ""
		}
		st, err := os.Stat(filepath.Join(runDir, file))
		if err != nil || !filepath.IsLocal(file) {
			return -1, fmt.Sprintf("log file %s not found", file)
		}
		if st.Size() > budget {
			return -1, fmt.Sprintf("%s is too large for the page", file)
		}
		b, err := logs.File(file)
		if err != nil {
			return -1, err.Error()
		}
		budget -= int64(len(b))
		i := len(d.Logs)
		d.Logs = append(d.Logs, logFile{Index: i, Name: file, B64: base64.StdEncoding.EncodeToString(b)})
		index[file] = i
		return i, ""
	}
	for _, t := range r.Tasks {
		tv := &taskView{ID: t.ID, Pack: t.Pack, Task: t.Task, Result: t.Result.Value.String(), Reason: t.Result.Reason,
			Runtime: dur(t.Runtime), PID: t.PID, Attempts: len(t.Attempts), Data: pretty(t.Result.Data),
			Logfile: t.Logfile, LogFile: -1, Success: t.Result.Value.Success(), Counts: counts(t.Summary)}
		if !t.StartTime.IsZero() {
			tv.Start = t.StartTime.Local().Format("15:04:05.000")
		}
		if t.Logfile != "" && len(t.Sections) == 0 {
			tv.LogFile, _ = logIndex(t.Logfile)
		}
		var walk func(ns []*report.Node) []*nodeView
		walk = func(ns []*report.Node) []*nodeView {
			var out []*nodeView
			for _, n := range ns {
				nv := &nodeView{Task: t.ID, ID: n.ID, Type: n.Type, Name: n.Name, Result: n.Result.Value.String(),
					Reason: n.Result.Reason, Runtime: dur(n.Runtime), Data: pretty(n.Result.Data),
					Success: n.Result.Value.Success(), Log: -1}
				if n.Logs != nil {
					nv.Log, nv.NoLog = logIndex(n.Logs.File)
					nv.Begin, nv.Size = n.Logs.Begin, n.Logs.Size
					if nv.NoLog != "" {
						nv.NoLog += fmt.Sprintf("; `taskhost logs RUNDIR %s %s` prints them", t.ID, n.ID)
					}
				} else {
					nv.NoLog = "no log lines on record for this step"
				}
				nv.Nodes = walk(n.Sections)
				out = append(out, nv)
			}
			return out
		}
		tv.Nodes = walk(t.Sections)
		d.Tasks = append(d.Tasks, tv)
	}
	return d
}

func counts(s results.Summary) []count {
	var out []count
	for _, r := range []result.Result{result.Passed, result.Passx, result.Failed, result.Errored, result.Aborted, result.Blocked, result.Skipped} {
		n := map[result.Result]int{result.Passed: s.Passed, result.Passx: s.Passx, result.Failed: s.Failed,
			result.Errored: s.Errored, result.Aborted: s.Aborted, result.Blocked: s.Blocked, result.Skipped: s.Skipped}[r]
		out = append(out, count{Result: r.String(), N: n})
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
