package e2e

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// mixedJob has a task of each kind of outcome users see: passed, failed
// in a step (with data and log lines), errored (a crash), blocked.
const mixedJob = `
job "mixed" { max_parallel = 4 }
task "hello" {
  pack = "demo"
  task = "hello"
  args = { name = "reports", times = 2 }
}
task "checks" {
  pack = "demo"
  task = "checks"
  args = { device = "r1.lab" }
}
task "crash" {
  pack = "demo"
  task = "crash"
}
task "after" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.checks]
}
`

// The schemas junit.xml is checked against: Jenkins' JUnit schema and the
// xUnit plugin's junit-10.xsd, which pytest's output follows.
const (
	jenkinsXSD = "../host/results/testdata/jenkins-junit.xsd"
	junit10XSD = "../host/results/testdata/junit-10.xsd"
)

// jenkinsLacks is the one error the Jenkins schema (of 2010) gives a
// current junit.xml: it has no message on <skipped>, which Jenkins' JUnit
// plugin, junitparser, pytest and Surefire all read.
var jenkinsLacks = regexp.MustCompile(`element skipped: Schemas validity error : Element 'skipped', attribute 'message': The attribute 'message' is not allowed\.$`)

// validJUnit checks path against both schemas with xmllint, which also
// rejects a text node of more than 10 MB, as default XML parsers do.
func validJUnit(t *testing.T, path string) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is needed: apt-get install libxml2-utils (make test does: scripts/test-deps)")
	}
	if out, err := exec.Command("xmllint", "--noout", "--schema", junit10XSD, path).CombinedOutput(); err != nil {
		t.Errorf("junit.xml does not validate against junit-10.xsd: %v\n%.4000s", err, out)
	}
	out, _ := exec.Command("xmllint", "--noout", "--schema", jenkinsXSD, path).CombinedOutput()
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != path+" validates" && line != path+" fails to validate" && !jenkinsLacks.MatchString(line) {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Errorf("junit.xml does not validate against the Jenkins JUnit schema:\n%.4000s", strings.Join(bad, "\n"))
	}
}

// parsedByJunitparser is junit.xml as Debian's python3-junitparser reads it.
type parsedByJunitparser struct {
	Suites []struct {
		Name                             string
		Tests, Failures, Errors, Skipped int
		Cases                            []struct {
			Name, Classname, Kind, Message string
		}
	}
}

const junitparserScript = `
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
out = {"Suites": []}
for s in JUnitXml.fromfile(sys.argv[1]):
    cases = []
    for c in s:
        kind, msg = "", ""
        for r in c.result:
            kind, msg = {Failure: "failure", Error: "error", Skipped: "skipped"}[type(r)], r.message or ""
        cases.append({"Name": c.name, "Classname": c.classname, "Kind": kind, "Message": msg})
    out["Suites"].append({"Name": s.name, "Tests": s.tests, "Failures": s.failures,
        "Errors": s.errors, "Skipped": s.skipped, "Cases": cases})
json.dump(out, sys.stdout)
`

func junitparser(t *testing.T, path string) parsedByJunitparser {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import junitparser").Run(); err != nil {
		t.Fatal("junitparser is needed: apt-get install python3-junitparser (make test does: scripts/test-deps)")
	}
	out, err := exec.Command("/usr/bin/python3", "-c", junitparserScript, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("junitparser could not read junit.xml: %v\n%s", err, stderr)
	}
	var p parsedByJunitparser
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// leafCase is the testcase a leaf step should be.
type leafCase struct{ name, kind, message string }

func kindOf(r result.Result) string {
	switch r {
	case result.Failed:
		return "failure"
	case result.Errored, result.Aborted:
		return "error"
	case result.Skipped, result.Blocked:
		return "skipped"
	}
	return ""
}

// leaves lists a task's steps that have no steps of their own, depth
// first, each named by its id and the path of names down to it.
func leaves(ns []*report.Node, path string) []leafCase {
	var out []leafCase
	for _, n := range ns {
		p := n.Name
		if path != "" {
			p = path + " / " + n.Name
		}
		if len(n.Sections) > 0 {
			out = append(out, leaves(n.Sections, p)...)
			continue
		}
		kind, msg := kindOf(n.Result.Value), n.Result.Reason
		switch {
		case kind == "":
			msg = ""
		case n.Result.Value == result.Blocked:
			msg = strings.TrimSuffix("blocked: "+msg, ": ")
		case msg == "":
			msg = n.Result.Value.Title()
		}
		out = append(out, leafCase{n.ID + " " + p, kind, msg})
	}
	return out
}

// checkJUnit checks the run's junit.xml against both schemas, and that
// junitparser reads a testcase per leaf step of each task (and one for
// the task itself only where its result is not a leaf's), each failure
// once, and suite counts that agree with the cases.
func checkJUnit(t *testing.T, dir string, f *results.File) parsedByJunitparser {
	t.Helper()
	path := filepath.Join(dir, "junit.xml")
	validJUnit(t, path)
	p := junitparser(t, path)
	if len(p.Suites) != len(f.Report.Tasks) {
		t.Fatalf("%d testsuites for %d tasks", len(p.Suites), len(f.Report.Tasks))
	}
	for i, s := range p.Suites {
		task := f.Report.Tasks[i]
		if s.Name != task.ID {
			t.Errorf("suite %d is %q, want %q", i, s.Name, task.ID)
		}
		want := leaves(task.Sections, "")
		told := false
		for _, l := range want {
			told = told || l.kind == kindOf(task.Result.Value)
		}
		if !told || len(want) == 0 {
			want = append(want, leafCase{task.ID, kindOf(task.Result.Value), ""})
		}
		counts := map[string]int{}
		var got []leafCase
		for j, c := range s.Cases {
			counts[c.Kind]++
			if c.Classname != task.ID {
				t.Errorf("suite %s case %q: classname %q, want the task %q", s.Name, c.Name, c.Classname, task.ID)
			}
			got = append(got, leafCase{c.Name, c.Kind, c.Message})
			if j < len(want) && want[j].name == task.ID {
				got[j].message = "" // the task's own case: its reason is checked elsewhere
			}
		}
		if strings.Join(caseLines(got), "\n") != strings.Join(caseLines(want), "\n") {
			t.Errorf("suite %s: testcases as junitparser reads them:\n%s\nwant a case per leaf step:\n%s",
				s.Name, strings.Join(caseLines(got), "\n"), strings.Join(caseLines(want), "\n"))
		}
		if s.Tests != len(s.Cases) || s.Failures != counts["failure"] || s.Errors != counts["error"] || s.Skipped != counts["skipped"] {
			t.Errorf("suite %s says tests=%d failures=%d errors=%d skipped=%d; its cases: %d, %d failed, %d errored, %d skipped",
				s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases), counts["failure"], counts["error"], counts["skipped"])
		}
	}
	return p
}

func caseLines(cs []leafCase) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.name+" ["+c.kind+"] "+c.message)
	}
	return out
}

// The demo job's junit.xml reads right: valid against both schemas, and
// a case per leaf step (the suite checks: 8 cases for its 8 leaf steps,
// one failure for its one failed step).
func TestJUnitXMLOfTheDemo(t *testing.T) {
	src, err := os.ReadFile("../jobs/demo.hcl")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(`"../bin/demo"`, `"`+filepath.Join(bin, "demo")+`"`,
		`"../bin/exec"`, `"`+filepath.Join(bin, "exec")+`"`).Replace(string(src))
	path := filepath.Join(t.TempDir(), "demo.hcl")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	r := taskhost(t, "run", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	p := checkJUnit(t, r.runDir(t), r.results(t))
	for _, s := range p.Suites {
		if s.Name == "checks" && (s.Tests != 8 || s.Failures != 1 || s.Skipped != 2) {
			t.Errorf("suite checks: tests=%d failures=%d skipped=%d, want 8 1 2", s.Tests, s.Failures, s.Skipped)
		}
	}
}

// A failed step four levels deep is one failure; a skipped step says why;
// a 10 MB log line leaves junit.xml readable by default XML parsers and
// report.html small, each saying where the whole log is.
func TestJUnitXMLDeepSkippedAndHugeLine(t *testing.T) {
	const mb10 = 10 << 20
	r := taskhost(t, "run", job(t, `
job "deep" { max_parallel = 2 }
task "deep" {
  pack = "testpack"
  task = "tree"
  args = { steps = [
    { name = "a", continue = true, steps = [
      { name = "b", steps = [
        { name = "c", steps = [
          { name = "ok", result = "passed" },
          { name = "d", result = "failed" },
        ] },
      ] },
    ] },
    { name = "later", result = "skipped" },
  ] }
}
task "big" {
  pack = "exec"
  task = "run"
  args = { command = "sh", args = ["-c", "head -c `+strconv.Itoa(mb10)+` /dev/zero | tr '\\0' x; echo"] }
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	f := r.results(t)
	p := checkJUnit(t, dir, f)
	for _, s := range p.Suites {
		if s.Name == "deep" && (s.Tests != 3 || s.Failures != 1 || s.Skipped != 1) {
			t.Errorf("suite deep: tests=%d failures=%d skipped=%d, want 3 1 1: %+v", s.Tests, s.Failures, s.Skipped, s.Cases)
		}
	}
	for _, name := range []string{"junit.xml", "report.html"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 2<<20 {
			t.Errorf("%s is %d bytes for a log of one 10 MB line: the line is not bounded", name, st.Size())
		}
	}
	// The big step's system-out is cut, and says where the whole log is.
	b, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDocX
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	step := taskByID(t, f, "big").Sections[0]
	if step.Logs == nil || step.Logs.Size < mb10 {
		t.Fatalf("the big step's log lines: %+v", step.Logs)
	}
	found := false
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			if s.Name == "big" && c.Name == step.ID+" "+step.Name {
				found = true
				where := "tasks/big/task.log"
				if !strings.Contains(c.SystemOut, where) || !strings.Contains(c.SystemOut, strconv.FormatInt(step.Logs.Begin, 10)) ||
					!strings.Contains(c.SystemOut, "command: ") || !strings.Contains(c.SystemOut, "xxxxxxxx") {
					t.Errorf("the big step's system-out does not say where the whole log is (%s, from byte %d): %.300q … %.300q",
						where, step.Logs.Begin, c.SystemOut, c.SystemOut[max(0, len(c.SystemOut)-300):])
				}
			}
		}
	}
	if !found {
		t.Errorf("no case for the big step %s %s", step.ID, step.Name)
	}
}

type junitCaseX struct {
	Name    string `xml:"name,attr"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	Failure *struct {
		Message string `xml:"message,attr"`
	} `xml:"failure"`
	Error *struct {
		Message string `xml:"message,attr"`
	} `xml:"error"`
	SystemOut string `xml:"system-out"`
}

type junitDocX struct {
	Tests  int `xml:"tests,attr"`
	Suites []struct {
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Cases    []junitCaseX `xml:"testcase"`
	} `xml:"testsuite"`
}

// Every run leaves junit.xml, valid against both schemas, with a suite per
// task and each leaf step's log lines.
func TestJUnitXMLOfARun(t *testing.T) {
	r := taskhost(t, "run", job(t, mixedJob))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	path := filepath.Join(dir, "junit.xml")
	f := r.results(t)
	checkJUnit(t, dir, f)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDocX
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != len(f.Report.Tasks) {
		t.Fatalf("%d testsuites for %d tasks", len(doc.Suites), len(f.Report.Tasks))
	}
	total := 0
	for i, s := range doc.Suites {
		task := f.Report.Tasks[i]
		if s.Name != task.ID {
			t.Errorf("suite %d is %q, want %q", i, s.Name, task.ID)
		}
		if s.Tests != len(s.Cases) || s.Failures+s.Errors+s.Skipped > s.Tests {
			t.Errorf("suite %s: counts tests=%d failures=%d errors=%d skipped=%d for %d cases", s.Name, s.Tests, s.Failures, s.Errors, s.Skipped, len(s.Cases))
		}
		total += s.Tests
		switch task.ID {
		case "after":
			if len(s.Cases) != 1 || s.Cases[0].Skipped == nil || s.Cases[0].Skipped.Message != "blocked: dependency checks ended Failed" {
				t.Errorf("blocked task: %+v", s.Cases)
			}
		case "crash":
			if s.Errors == 0 {
				t.Errorf("crashed task has no error: %+v", s)
			}
		case "checks":
			if s.Failures == 0 {
				t.Errorf("failed task has no failure: %+v", s)
			}
			// The failed step's system-out is its lines in task.log.
			var failed *report.Node
			var find func(ns []*report.Node)
			find = func(ns []*report.Node) {
				for _, n := range ns {
					if len(n.Sections) == 0 && n.Result.Value == result.Failed && failed == nil {
						failed = n
					}
					find(n.Sections)
				}
			}
			find(task.Sections)
			if failed == nil || failed.Logs == nil {
				t.Fatalf("no failed step with logs in checks: %+v", task.Sections)
			}
			log, _ := os.ReadFile(filepath.Join(dir, failed.Logs.File))
			want := string(log[failed.Logs.Begin : failed.Logs.Begin+failed.Logs.Size])
			found := false
			for _, c := range s.Cases {
				if strings.HasPrefix(c.Name, failed.ID+" ") && strings.HasSuffix(c.Name, " "+failed.Name) {
					found = true
					if c.Failure == nil || c.Failure.Message != failed.Result.Reason || c.SystemOut != want {
						t.Errorf("failed step's case: %+v\nwant system-out %q", c, want)
					}
					if !strings.Contains(c.SystemOut, failed.Name) {
						t.Errorf("system-out lacks the step's own lines: %q", c.SystemOut)
					}
				}
			}
			if !found {
				t.Errorf("no case for step %s", failed.ID)
			}
		}
	}
	if doc.Tests != total {
		t.Errorf("testsuites tests=%d, sum of suites %d", doc.Tests, total)
	}
}
