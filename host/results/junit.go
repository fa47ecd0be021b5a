package results

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// JUnit XML, as CI systems read it (the Jenkins JUnit schema; see
// docs/reports.md for the mapping), written by hand (see writeSuiteHead).

type junitSuite struct {
	Name string
	// err is a failure to read the task's spooled sections.
	err        error
	Tests      int
	Failures   int
	Errors     int
	Skipped    int
	Time       string
	Timestamp  string
	Hostname   string
	ID         int
	Package    string
	Properties []junitProperty
	emit       func(junitCase) // each case as it is made
}

type junitProperty struct {
	Name  string
	Value string
}

type junitCase struct {
	Name      string
	Classname string
	Time      string
	Skipped   *string
	Error     *junitProblem
	Failure   *junitProblem
	SystemOut *junitText
}

// junitText is text written as it is, with only what XML needs escaped
// (encoding/xml would write each newline as a character reference).
type junitText struct {
	Inner string
}

func newJUnitText(s string) *junitText {
	if plainXML(s) {
		return &junitText{Inner: s}
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		var rep string
		size := 1
		switch {
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '\r':
			rep = "&#xD;"
		case c == '\n' || c == '\t' || (c >= 0x20 && c < 0x80):
			i++
			continue
		case c < 0x20:
			rep = "\uFFFD" // not allowed in XML 1.0
		default:
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			if (r != utf8.RuneError || size > 1) && r != 0xFFFE && r != 0xFFFF {
				i += size
				continue
			}
			rep = "\uFFFD" // invalid UTF-8, or not allowed in XML
		}
		b.WriteString(s[start:i])
		b.WriteString(rep)
		i += size
		start = i
	}
	b.WriteString(s[start:])
	return &junitText{Inner: b.String()}
}

type junitProblem struct {
	Message string
	Type    string
	Text    string
}

// The text a testcase holds is bounded, so that junit.xml stays small and
// readable by default XML parsers (which refuse a text node of more than
// 10 MB) whatever a task logs: a case's log lines past junitTextMax bytes
// keep their first quarter and their end, and say where the whole log is;
// a name or message past junitMessageMax bytes is cut.
const (
	junitTextMax    = 64 << 10
	junitMessageMax = 4 << 10
)

// WriteJUnit writes the run's record as JUnit XML to path, with each
// case's log lines read from the run directory runDir. It writes a suite
// at a time, so that a large run is not held twice in memory.
func WriteJUnit(path, runDir string, f *File) error {
	if err := WriteAtomic(path, func(w *bufio.Writer) error { return writeJUnit(w, runDir, f) }); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	return nil
}

func writeJUnit(w *bufio.Writer, runDir string, f *File) error {
	r := &f.Report
	// The totals come first, in the root's attributes: count, then write.
	var tests, failures, errors int
	for i, t := range r.Tasks {
		s := junitSuiteOf(r, i, t, nil, nil)
		if s.err != nil {
			return s.err
		}
		tests, failures, errors = tests+s.Tests, failures+s.Failures, errors+s.Errors
	}
	w.WriteString(xml.Header)
	fmt.Fprintf(w, "<testsuites name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"%d\" time=\"%s\">\n",
		xmlAttr(r.Name), tests, failures, errors, seconds(r.Runtime))
	logs := NewLogReader(runDir, 0)
	defer logs.Close()
	for i, t := range r.Tasks {
		// Counted first, for the suite's attributes; then each case is
		// written as it is made, its log lines with it.
		writeSuiteHead(w, junitSuiteOf(r, i, t, nil, nil))
		if s := junitSuiteOf(r, i, t, logs, func(c junitCase) { writeCase(w, c) }); s.err != nil {
			return s.err
		}
		w.WriteString("  </testsuite>\n")
	}
	_, err := w.WriteString("</testsuites>\n")
	return err
}

// writeSuite writes a testsuite by hand (encoding/xml takes seconds for a
// task of 100,000 steps; bench/reports_test.go), in the order of the
// schema's sequences.
func writeSuiteHead(w *bufio.Writer, s junitSuite) {
	a := xmlAttr
	fmt.Fprintf(w, "  <testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"%d\" skipped=\"%d\" time=\"%s\"",
		a(s.Name), s.Tests, s.Failures, s.Errors, s.Skipped, s.Time)
	if s.Timestamp != "" {
		fmt.Fprintf(w, " timestamp=\"%s\"", s.Timestamp)
	}
	if s.Hostname != "" {
		fmt.Fprintf(w, " hostname=\"%s\"", a(s.Hostname))
	}
	fmt.Fprintf(w, " id=\"%d\" package=\"%s\">\n    <properties>\n", s.ID, a(s.Package))
	for _, p := range s.Properties {
		fmt.Fprintf(w, "      <property name=\"%s\" value=\"%s\"></property>\n", a(p.Name), a(p.Value))
	}
	w.WriteString("    </properties>\n")
}

func writeCase(w *bufio.Writer, c junitCase) {
	a := xmlAttr
	{
		fmt.Fprintf(w, "    <testcase name=\"%s\" classname=\"%s\" time=\"%s\">\n", a(c.Name), a(c.Classname), c.Time)
		if c.Skipped != nil {
			fmt.Fprintf(w, "      <skipped message=\"%s\"></skipped>\n", a(*c.Skipped))
		}
		if p := c.Error; p != nil {
			fmt.Fprintf(w, "      <error message=\"%s\" type=\"%s\">%s</error>\n", a(p.Message), a(p.Type), newJUnitText(p.Text).Inner)
		}
		if p := c.Failure; p != nil {
			fmt.Fprintf(w, "      <failure message=\"%s\" type=\"%s\">%s</failure>\n", a(p.Message), a(p.Type), newJUnitText(p.Text).Inner)
		}
		if c.SystemOut != nil {
			fmt.Fprintf(w, "      <system-out>%s</system-out>\n", c.SystemOut.Inner)
		}
		w.WriteString("    </testcase>\n")
	}
}

// xmlAttr escapes s for an attribute value in double quotes.
func xmlAttr(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // also &#xA; etc. and U+FFFD for what XML cannot hold
	return strings.ReplaceAll(b.String(), `"`, "&#34;")
}

// junitSuiteOf maps a task to a testsuite: a testcase per leaf step (a
// section or step with no steps of its own, depth first), named by its
// id and the path of names down to it, as CI tools count tests. A
// section gets a case of its own only when it failed, errored or was
// aborted and none of its steps tells why (it failed outside them); the
// task likewise, when no case has its result (a task that never started,
// one that failed outside its steps). With logs nil, the cases have no
// system-out.
func junitSuiteOf(r *Report, i int, t *Task, logs *LogReader, emit func(junitCase)) junitSuite {
	s := junitSuite{emit: emit, Name: t.ID, ID: i, Package: r.Name, Time: seconds(t.Runtime), Hostname: r.Host,
		Properties: []junitProperty{{"pack", t.Pack}, {"task", t.Task}, {"result", t.Result.Value.String()}}}
	if t.Result.Reason != "" {
		s.Properties = append(s.Properties, junitProperty{"reason", clip(t.Result.Reason, junitMessageMax)})
	}
	if !t.StartTime.IsZero() {
		s.Timestamp = t.StartTime.Local().Format("2006-01-02T15:04:05")
	}
	dir := TaskDir(t.ID)
	told := map[result.Result]bool{} // the results of the cases made
	var walk func(ns []*report.Node, path string)
	walk = func(ns []*report.Node, path string) {
		for _, n := range ns {
			p := n.Name
			if path != "" {
				p = path + " / " + n.Name
			}
			if len(n.Sections) == 0 {
				c := junitNewCase(t.ID, n.ID+" "+p, n.Runtime, n.Result)
				if n.Logs != nil && logs != nil {
					c.SystemOut = junitLogText(logs, n.Logs, dir, t.ID, n.ID)
				}
				told[n.Result.Value] = true
				s.add(c)
				continue
			}
			before := maps.Clone(told)
			clear(told)
			walk(n.Sections, p)
			if v := n.Result.Value; (v == result.Failed || v == result.Errored || v == result.Aborted) && !told[v] {
				// Failed outside its steps: the section's own case.
				told[v] = true
				s.add(junitNewCase(t.ID, n.ID+" "+p, n.Runtime, n.Result))
			}
			maps.Copy(told, before)
		}
	}
	s.err = report.Each(t.Spool, t.Sections, func(n *report.Node) error {
		walk([]*report.Node{n}, "")
		return nil
	})
	none := report.Len(t.Spool, t.Sections) == 0
	if !told[t.Result.Value] || none {
		c := junitNewCase(t.ID, t.ID, t.Runtime, t.Result)
		if t.Logfile != "" && none && logs != nil {
			if ref, err := logs.Whole(t.Logfile, dir); err == nil {
				c.SystemOut = junitLogText(logs, ref, dir, t.ID, "")
			}
		}
		s.add(c)
	}
	return s
}

// junitLogText is the system-out of a case: its log lines, bounded by
// junitTextMax; cut, they say where the whole of them is.
func junitLogText(logs *LogReader, ref *report.LogRef, dir, task, step string) *junitText {
	head, tail, cut, err := logs.Bounded(ref, dir, junitTextMax)
	if err != nil {
		return newJUnitText(fmt.Sprintf("(log lines not read: %v; `taskhost logs RUN %s %s` prints them)\n", err, task, step))
	}
	if cut == 0 {
		return newJUnitText(string(head))
	}
	cmd := strings.TrimSpace("taskhost logs RUN " + task + " " + step)
	return newJUnitText(fmt.Sprintf("%s\n[… %d bytes left out here: these log lines are bytes %d to %d of %s in the run directory; `%s` prints them]\n%s",
		head, cut, ref.Begin, ref.Begin+ref.Size, ref.File, cmd, tail))
}

// clip cuts s to at most max bytes (at a character's start), saying so.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + fmt.Sprintf("… (%d bytes more)", len(s)-i)
}

func junitNewCase(task, name string, runtime float64, o report.Outcome) junitCase {
	c := junitCase{Name: clip(name, junitMessageMax), Classname: task, Time: seconds(runtime)}
	msg := clip(o.Reason, junitMessageMax)
	if msg == "" {
		msg = o.Value.Title()
	}
	switch o.Value {
	case result.Failed:
		c.Failure = &junitProblem{Message: msg, Type: "Failed", Text: clip(o.Reason, junitTextMax)}
	case result.Errored, result.Aborted:
		c.Error = &junitProblem{Message: msg, Type: o.Value.Title(), Text: clip(o.Reason, junitTextMax)}
	case result.Skipped:
		c.Skipped = &msg
	case result.Blocked:
		s := "blocked: " + msg
		if o.Reason == "" {
			s = "blocked"
		}
		c.Skipped = &s
	}
	return c
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
	if s.emit != nil {
		s.emit(c)
	}
}

func seconds(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }

// plainXML reports whether s is printable ASCII (with newlines and tabs)
// that XML text holds as it is.
func plainXML(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x7f || c == '&' || c == '<' || c == '>' || (c < 0x20 && c != '\n' && c != '\t') {
			return false
		}
	}
	return true
}
