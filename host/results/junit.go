package results

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/result"
)

// JUnit XML, as CI systems read it (the Jenkins JUnit schema; see
// docs/reports.md for the mapping).

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Hostname   string          `xml:"hostname,attr,omitempty"`
	ID         int             `xml:"id,attr"`
	Package    string          `xml:"package,attr"`
	Properties []junitProperty `xml:"properties>property"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Status    string        `xml:"status,attr"`
	Skipped   *string       `xml:"skipped"`
	Error     *junitProblem `xml:"error"`
	Failure   *junitProblem `xml:"failure"`
	SystemOut *junitText    `xml:"system-out"`
}

// junitText is text written as it is, with only what XML needs escaped
// (encoding/xml would write each newline as a character reference).
type junitText struct {
	Inner string `xml:",innerxml"`
}

func newJUnitText(s string) *junitText {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString("&#xD;")
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF):
			b.WriteRune('\uFFFD') // not allowed in XML 1.0
		default:
			b.WriteRune(r)
		}
	}
	return &junitText{Inner: b.String()}
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// junitLogLimit bounds the log file read for system-out; a larger file's
// steps say where their lines are instead.
const junitLogLimit = 64 << 20

// WriteJUnit writes the run's record as JUnit XML to path, with each
// case's log lines read from the run directory runDir.
func WriteJUnit(path, runDir string, f *File) error {
	logs := NewLogReader(runDir, junitLogLimit)
	doc := JUnit(f, logs)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".junit-*.xml")
	if err != nil {
		return err
	}
	w := bufio.NewWriter(tmp)
	w.WriteString(xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	err = enc.Encode(doc)
	if err == nil {
		w.WriteByte('\n')
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
		return fmt.Errorf("write junit.xml: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}

// JUnit maps a run's record to JUnit XML: a testsuite per task, a
// testcase per section and step (depth first), and one more case for the
// task itself when its result is not told by any of them (a task that
// never started, or one that failed outside its steps).
func JUnit(f *File, logs *LogReader) any {
	r := &f.Report
	doc := junitSuites{Name: r.Name, Time: seconds(r.Runtime)}
	for i, t := range r.Tasks {
		s := junitSuite{Name: t.ID, ID: i, Package: r.Name, Time: seconds(t.Runtime), Hostname: r.Host,
			Properties: []junitProperty{{"pack", t.Pack}, {"task", t.Task}, {"result", t.Result.Value.String()}}}
		if t.Result.Reason != "" {
			s.Properties = append(s.Properties, junitProperty{"reason", t.Result.Reason})
		}
		if !t.StartTime.IsZero() {
			s.Timestamp = t.StartTime.Local().Format("2006-01-02T15:04:05")
		}
		told := false
		var walk func(ns []*report.Node)
		walk = func(ns []*report.Node) {
			for _, n := range ns {
				if n.Result.Value == t.Result.Value {
					told = true
				}
				o := n.Result
				if o.Reason == "" {
					o.Reason = causeOf(n.Sections, o.Value)
				}
				c := junitNewCase(t.ID, n.ID+" "+n.Name, n.Runtime, o)
				if n.Logs != nil {
					b, err := logs.Lines(n.Logs)
					if err != nil {
						c.SystemOut = newJUnitText(fmt.Sprintf("(log lines not read: %v; `taskhost logs RUNDIR %s %s` prints them)\n", err, t.ID, n.ID))
					} else {
						c.SystemOut = newJUnitText(string(b))
					}
				}
				s.add(c)
				walk(n.Sections)
			}
		}
		walk(t.Sections)
		if !told || len(t.Sections) == 0 {
			c := junitNewCase(t.ID, t.ID, t.Runtime, t.Result)
			if t.Logfile != "" && len(t.Sections) == 0 {
				if b, err := logs.File(t.Logfile); err == nil {
					c.SystemOut = newJUnitText(string(b))
				}
			}
			s.add(c)
		}
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Suites = append(doc.Suites, s)
	}
	return doc
}

func junitNewCase(task, name string, runtime float64, o report.Outcome) junitCase {
	c := junitCase{Name: name, Classname: task, Time: seconds(runtime), Status: o.Value.String()}
	msg := o.Reason
	if msg == "" {
		msg = o.Value.Title()
	}
	switch o.Value {
	case result.Failed:
		c.Failure = &junitProblem{Message: msg, Type: "Failed", Text: o.Reason}
	case result.Errored, result.Aborted:
		c.Error = &junitProblem{Message: msg, Type: o.Value.Title(), Text: o.Reason}
	case result.Skipped:
		c.Skipped = &msg
	case result.Blocked:
		s := "blocked: " + o.Reason
		if o.Reason == "" {
			s = "blocked"
		}
		c.Skipped = &s
	}
	return c
}

// causeOf tells which nested step gave a section its result, for a
// section that has no reason of its own: "2.2 Gi0/2 is up: Gi0/2 is down".
func causeOf(ns []*report.Node, r result.Result) string {
	for _, n := range ns {
		if n.Result.Value != r {
			continue
		}
		if n.Result.Reason != "" {
			return n.ID + " " + n.Name + ": " + n.Result.Reason
		}
		if c := causeOf(n.Sections, r); c != "" {
			return c
		}
	}
	return ""
}

func (s *junitSuite) add(c junitCase) {
	s.Tests++
	switch {
	case c.Failure != nil:
		s.Failures++
	case c.Error != nil:
		s.Errors++
	case c.Skipped != nil:
		s.Skipped++
	}
	s.Cases = append(s.Cases, c)
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
