package results

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// xmllint validates path against the Jenkins JUnit schema kept in
// testdata, and fails the test if it does not validate.
func xmllint(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is needed to check junit.xml against its schema: apt-get install libxml2-utils (make test does: scripts/test-deps)")
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", "testdata/jenkins-junit.xsd", path).CombinedOutput()
	if err != nil {
		t.Fatalf("junit.xml does not validate: %v\n%s", err, out)
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
	Status    string         `xml:"status,attr"`
	Skipped   *string        `xml:"skipped"`
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
	if a.Name != "a" || a.Tests != "8" || a.Failures != "2" || a.Errors != "2" || a.Skipped != "2" || a.Time != "1.250" {
		t.Errorf("suite a: tests=%s failures=%s errors=%s skipped=%s time=%s; want 8 2 2 2 1.250", a.Tests, a.Failures, a.Errors, a.Skipped, a.Time)
	}
	byName := map[string]parsedCase{}
	for _, c := range a.Cases {
		byName[c.Name] = c
		if c.Classname != "a" {
			t.Errorf("case %s: classname %q, want the task id", c.Name, c.Classname)
		}
	}
	if c := byName["1 one"]; c.Failure != nil || c.Error != nil || c.Skipped != nil || c.SystemOut != "line of 1\n" || c.Time != "0.500" {
		t.Errorf("passed case: %+v", c)
	}
	if c := byName["2.2 b"]; c.Failure == nil || c.Failure.Message != "bad" || c.Failure.Type != "Failed" || !strings.HasPrefix(c.SystemOut, "line of 2.2 ") {
		t.Errorf("failed case: %+v", c)
	}
	if c := byName["2.3 c"]; c.Error == nil || c.Error.Type != "Errored" || c.Error.Message != "oops" {
		t.Errorf("errored case: %+v", c)
	}
	if c := byName["2.4 d"]; c.Error == nil || c.Error.Type != "Aborted" || c.Error.Message != "told to stop" {
		t.Errorf("aborted case: %+v", c)
	}
	if c := byName["2.5 e"]; c.Skipped == nil || *c.Skipped != "not today" {
		t.Errorf("skipped case: %+v", c)
	}
	if c := byName["2.6 f"]; c.Skipped == nil || *c.Skipped != "blocked: needs 2.2" || c.Status != "blocked" {
		t.Errorf("blocked case: %+v", c)
	}
	if c := byName["2.1 a"]; c.Failure != nil || c.Error != nil || c.Skipped != nil || c.Status != "passx" {
		t.Errorf("passx case: %+v", c)
	}
	if c := byName["2 two"]; !strings.Contains(c.SystemOut, "line of 2.1\n") || !strings.Contains(c.SystemOut, "<&>") {
		t.Errorf("section's system-out: %q", c.SystemOut)
	}

	// A task that never started is a case of its own, with its reason.
	bs := doc.Suites[1]
	if bs.Tests != "1" || bs.Skipped != "1" || len(bs.Cases) != 1 || bs.Cases[0].Skipped == nil ||
		*bs.Cases[0].Skipped != "blocked: dependency a ended Failed" {
		t.Errorf("blocked task: %+v", bs)
	}
	// A task that errored outside its steps keeps its error.
	cs := doc.Suites[2]
	if cs.Tests != "2" || cs.Errors != "1" || cs.Cases[1].Name != "c" || cs.Cases[1].Error == nil || cs.Cases[1].Error.Message != "panic: boom" {
		t.Errorf("task errored outside its steps: %+v", cs)
	}
	if doc.Tests != "11" || doc.Failures != "2" || doc.Errors != "3" {
		t.Errorf("testsuites: tests=%s failures=%s errors=%s, want 11 2 3", doc.Tests, doc.Failures, doc.Errors)
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
