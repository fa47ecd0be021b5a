package results

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// jenkinsLacks is the one error the Jenkins JUnit schema (of 2010) finds
// in junit.xml: it has no message on <skipped>, which Jenkins' JUnit
// plugin, junitparser, pytest and Surefire all read.
var jenkinsLacks = regexp.MustCompile(`element skipped: Schemas validity error : Element 'skipped', attribute 'message': The attribute 'message' is not allowed\.$`)

// xmllint validates path against the schemas kept in testdata, the xUnit
// plugin's junit-10.xsd and Jenkins' JUnit schema, and fails the test if
// it does not validate. xmllint, as default XML parsers, also refuses a
// text node of more than 10 MB.
func xmllint(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is needed to check junit.xml against its schema: apt-get install libxml2-utils (make test does: scripts/test-deps)")
	}
	if out, err := exec.Command("xmllint", "--noout", "--schema", "testdata/junit-10.xsd", path).CombinedOutput(); err != nil {
		t.Fatalf("junit.xml does not validate against junit-10.xsd: %v\n%.4000s", err, out)
	}
	out, _ := exec.Command("xmllint", "--noout", "--schema", "testdata/jenkins-junit.xsd", path).CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != path+" validates" && line != path+" fails to validate" && !jenkinsLacks.MatchString(line) {
			t.Fatalf("junit.xml does not validate against the Jenkins schema:\n%.4000s", out)
		}
	}
}

// junitFixture is a run of three tasks with every result, and a log file.
func junitFixture(t *testing.T) (*File, string) {
	dir := t.TempDir()
	log := "line of 1\nline of 2.1\nline of 2.2 \x01 <&>\nend\n"
	if err := os.MkdirAll(filepath.Join(dir, "tasks", "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tasks", "a", "task.log"), []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 4, 0, 0, 0, time.UTC)
	ref := func(sub string) *report.LogRef {
		i := strings.Index(log, sub)
		return &report.LogRef{File: "tasks/a/task.log", Begin: int64(i), Size: int64(len(sub))}
	}
	node := func(id, name string, r result.Result, reason string, rt float64, l *report.LogRef, kids ...*report.Node) *report.Node {
		return &report.Node{Type: "step", ID: id, Name: name, Result: report.Outcome{Value: r, Reason: reason},
			StartTime: at, Runtime: rt, Logs: l, Sections: kids}
	}
	f := &File{Version: 1, Report: Report{Name: "job", Host: "h", StartTime: at, Runtime: 2.5, Tasks: []*Task{
		{ID: "a", Pack: "p", Task: "t", StartTime: at, Runtime: 1.25, Logfile: "tasks/a/task.log",
			Result: report.Outcome{Value: result.Failed, Reason: "2.2 b: bad"},
			Sections: []*report.Node{
				node("1", "one", result.Passed, "", 0.5, ref("line of 1\n")),
				node("2", "two", result.Failed, "", 0.75, ref("line of 2.1\nline of 2.2 \x01 <&>\n"),
					node("2.1", "a", result.Passx, "flaky", 0.1, ref("line of 2.1\n")),
					node("2.2", "b", result.Failed, "bad", 0.2, ref("line of 2.2 \x01 <&>\n")),
					node("2.3", "c", result.Errored, "oops", 0, nil),
					node("2.4", "d", result.Aborted, "told to stop", 0, nil),
					node("2.5", "e", result.Skipped, "not today", 0, nil),
					node("2.6", "f", result.Blocked, "needs 2.2", 0, nil),
				),
			}},
		{ID: "b", Pack: "p", Task: "t", Result: report.Outcome{Value: result.Blocked, Reason: "dependency a ended Failed"}, Sections: []*report.Node{}},
		{ID: "c", Pack: "p", Task: "t", StartTime: at, Runtime: 0.01, Result: report.Outcome{Value: result.Errored, Reason: "panic: boom"},
			Sections: []*report.Node{node("1", "ok", result.Passed, "", 0, nil)}},
	}}}
	return f, dir
}

type parsedProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
}

type parsedCase struct {
	Name      string         `xml:"name,attr"`
	Classname string         `xml:"classname,attr"`
	Time      string         `xml:"time,attr"`
	Status    *string        `xml:"status,attr"`
	Skipped   *parsedProblem `xml:"skipped"`
	Failure   *parsedProblem `xml:"failure"`
	Error     *parsedProblem `xml:"error"`
	SystemOut string         `xml:"system-out"`
}

type parsedSuite struct {
	Name      string       `xml:"name,attr"`
	Tests     string       `xml:"tests,attr"`
	Failures  string       `xml:"failures,attr"`
	Errors    string       `xml:"errors,attr"`
	Skipped   string       `xml:"skipped,attr"`
	Time      string       `xml:"time,attr"`
	Timestamp string       `xml:"timestamp,attr"`
	Cases     []parsedCase `xml:"testcase"`
}

type parsedSuites struct {
	Tests    string        `xml:"tests,attr"`
	Failures string        `xml:"failures,attr"`
	Errors   string        `xml:"errors,attr"`
	Suites   []parsedSuite `xml:"testsuite"`
}

func TestJUnitSchemaAndMapping(t *testing.T) {
	f, dir := junitFixture(t)
	path := filepath.Join(dir, "junit.xml")
	if err := WriteJUnit(path, dir, f); err != nil {
		t.Fatal(err)
	}
	xmllint(t, path)

	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc parsedSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 3 {
		t.Fatalf("want a testsuite per task (3), got %d", len(doc.Suites))
	}
	a := doc.Suites[0]
	if a.Name != "a" || a.Tests != "7" || a.Failures != "1" || a.Errors != "2" || a.Skipped != "2" || a.Time != "1.250" {
		t.Errorf("suite a: tests=%s failures=%s errors=%s skipped=%s time=%s; want 7 1 2 2 1.250", a.Tests, a.Failures, a.Errors, a.Skipped, a.Time)
	}
	var names []string
	byName := map[string]parsedCase{}
	for _, c := range a.Cases {
		names = append(names, c.Name)
		byName[c.Name] = c
		if c.Classname != "a" {
			t.Errorf("case %s: classname %q, want the task id", c.Name, c.Classname)
		}
		if c.Status != nil {
			t.Errorf("case %s has a status attribute, which junit-10.xsd does not allow", c.Name)
		}
	}
	// A case per leaf step, named by its id and path; not one for "2 two",
	// whose failure is its step 2.2's.
	want := []string{"1 one", "2.1 two / a", "2.2 two / b", "2.3 two / c", "2.4 two / d", "2.5 two / e", "2.6 two / f"}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("cases %q, want %q", names, want)
	}
	if c := byName["1 one"]; c.Failure != nil || c.Error != nil || c.Skipped != nil || c.SystemOut != "line of 1\n" || c.Time != "0.500" {
		t.Errorf("passed case: %+v", c)
	}
	if c := byName["2.2 two / b"]; c.Failure == nil || c.Failure.Message != "bad" || c.Failure.Type != "Failed" || c.SystemOut != "line of 2.2 \uFFFD <&>\n" {
		t.Errorf("failed case: %+v", c)
	}
	if c := byName["2.3 two / c"]; c.Error == nil || c.Error.Type != "Errored" || c.Error.Message != "oops" {
		t.Errorf("errored case: %+v", c)
	}
	if c := byName["2.4 two / d"]; c.Error == nil || c.Error.Type != "Aborted" || c.Error.Message != "told to stop" {
		t.Errorf("aborted case: %+v", c)
	}
	if c := byName["2.5 two / e"]; c.Skipped == nil || c.Skipped.Message != "not today" {
		t.Errorf("skipped case: %+v", c)
	}
	if c := byName["2.6 two / f"]; c.Skipped == nil || c.Skipped.Message != "blocked: needs 2.2" {
		t.Errorf("blocked case: %+v", c)
	}
	if c := byName["2.1 two / a"]; c.Failure != nil || c.Error != nil || c.Skipped != nil || c.SystemOut != "line of 2.1\n" {
		t.Errorf("passx case: %+v", c)
	}

	// A task that never started is a case of its own, with its reason.
	bs := doc.Suites[1]
	if bs.Tests != "1" || bs.Skipped != "1" || len(bs.Cases) != 1 || bs.Cases[0].Skipped == nil ||
		bs.Cases[0].Skipped.Message != "blocked: dependency a ended Failed" {
		t.Errorf("blocked task: %+v", bs)
	}
	// A task that errored outside its steps keeps its error.
	cs := doc.Suites[2]
	if cs.Tests != "2" || cs.Errors != "1" || cs.Cases[1].Name != "c" || cs.Cases[1].Error == nil || cs.Cases[1].Error.Message != "panic: boom" {
		t.Errorf("task errored outside its steps: %+v", cs)
	}
	if doc.Tests != "10" || doc.Failures != "1" || doc.Errors != "3" {
		t.Errorf("testsuites: tests=%s failures=%s errors=%s, want 10 1 3", doc.Tests, doc.Failures, doc.Errors)
	}
}

// The schema check itself must catch a bad file.
func TestJUnitSchemaRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.xml")
	os.WriteFile(path, []byte(`<testsuites><testsuite name="x"><testcase/></testsuite></testsuites>`), 0o644)
	out, err := exec.Command("xmllint", "--noout", "--schema", "testdata/jenkins-junit.xsd", path).CombinedOutput()
	if err == nil {
		t.Fatalf("a testsuite without tests and a testcase without a name validated:\n%s", out)
	}
}

// A section that failed outside its steps (all of them passed) is a case
// of its own, so that its failure is counted; one whose failure is a
// step's is not.
func TestJUnitSectionFailedOutsideItsSteps(t *testing.T) {
	dir := t.TempDir()
	ok := func(id string) *report.Node {
		return &report.Node{Type: "step", ID: id, Name: "ok", Result: report.Outcome{Value: result.Passed}}
	}
	f := &File{Version: 1, Report: Report{Name: "job", Tasks: []*Task{{ID: "a", Pack: "p", Task: "t",
		Result: report.Outcome{Value: result.Failed, Reason: "1 s: counts differ"},
		Sections: []*report.Node{{Type: "section", ID: "1", Name: "s", Result: report.Outcome{Value: result.Failed, Reason: "counts differ"},
			Sections: []*report.Node{ok("1.1"), ok("1.2")}}}}}}}
	path := filepath.Join(dir, "junit.xml")
	if err := WriteJUnit(path, dir, f); err != nil {
		t.Fatal(err)
	}
	xmllint(t, path)
	b, _ := os.ReadFile(path)
	var doc parsedSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Suites[0]
	if s.Tests != "3" || s.Failures != "1" || len(s.Cases) != 3 || s.Cases[2].Name != "1 s" || s.Cases[2].Failure == nil ||
		s.Cases[2].Failure.Message != "counts differ" {
		t.Errorf("suite: %+v", s)
	}
}

// What a case holds is bounded whatever a task logs: one huge line, a
// huge log file of a task without steps, a huge reason. junit.xml stays
// small, valid, readable by default XML parsers, and says where the whole
// log is.
func TestJUnitBoundsWhatACaseHolds(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "tasks", "a"), 0o755)
	os.MkdirAll(filepath.Join(dir, "tasks", "b"), 0o755)
	line := "start " + strings.Repeat("é", 6<<20) + " end\n" // 12 MB, characters of two bytes
	log := "before\n" + line + "after\n"
	os.WriteFile(filepath.Join(dir, "tasks", "a", "task.log"), []byte(log), 0o644)
	os.WriteFile(filepath.Join(dir, "tasks", "b", "task.log"), []byte(line), 0o644)
	begin := int64(len("before\n"))
	reason := strings.Repeat("why ", 3<<20)
	f := &File{Version: 1, Report: Report{Name: "job", Tasks: []*Task{
		{ID: "a", Pack: "p", Task: "t", Result: report.Outcome{Value: result.Failed, Reason: reason}, Logfile: "tasks/a/task.log",
			Sections: []*report.Node{{Type: "step", ID: "1", Name: "big", Result: report.Outcome{Value: result.Failed, Reason: reason},
				Logs: &report.LogRef{File: "tasks/a/task.log", Begin: begin, Size: int64(len(line))}},
				{Type: "step", ID: "2", Name: strings.Repeat("name ", 3<<20), Result: report.Outcome{Value: result.Passed}}}},
		{ID: "b", Pack: "p", Task: "t", Result: report.Outcome{Value: result.Passed}, Logfile: "tasks/b/task.log", Sections: []*report.Node{}},
	}}}
	path := filepath.Join(dir, "junit.xml")
	if err := WriteJUnit(path, dir, f); err != nil {
		t.Fatal(err)
	}
	xmllint(t, path)
	b, _ := os.ReadFile(path)
	if len(b) > 512<<10 {
		t.Errorf("junit.xml is %d bytes for 24 MB of log and 12 MB of reasons", len(b))
	}
	var doc parsedSuites
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Suites[0].Cases[0]
	where := fmt.Sprintf("bytes %d to %d of tasks/a/task.log in the run directory; `taskhost logs RUN a 1` prints them", begin, begin+int64(len(line)))
	if !strings.HasPrefix(c.SystemOut, "start ééé") || !strings.HasSuffix(c.SystemOut, "éé end\n") ||
		!strings.Contains(c.SystemOut, where) || strings.Contains(c.SystemOut, "\uFFFD") {
		t.Errorf("the step's cut lines: %.200q … %.400q", c.SystemOut, c.SystemOut[len(c.SystemOut)-400:])
	}
	if c.Failure == nil || len(c.Failure.Message) > 5<<10 || !strings.HasPrefix(c.Failure.Message, "why why") {
		t.Errorf("failure message not bounded: %d bytes", len(c.Failure.Message))
	}
	if c := doc.Suites[0].Cases[1]; len(c.Name) > 5<<10 || !strings.HasPrefix(c.Name, "2 name name") {
		t.Errorf("case name not bounded: %d bytes", len(c.Name))
	}
	c = doc.Suites[1].Cases[0]
	if c.Name != "b" || !strings.Contains(c.SystemOut, "of tasks/b/task.log in the run directory") || !strings.HasSuffix(c.SystemOut, " end\n") {
		t.Errorf("the task's cut log: %.200q", c.SystemOut)
	}
}
