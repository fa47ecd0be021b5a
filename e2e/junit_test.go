package e2e

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/internal/report"
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

type junitCaseX struct {
	Name    string  `xml:"name,attr"`
	Status  string  `xml:"status,attr"`
	Skipped *string `xml:"skipped"`
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

// Every run leaves junit.xml, valid against the Jenkins JUnit schema, with
// a suite per task and each step's log lines.
func TestJUnitXMLOfARun(t *testing.T) {
	r := taskhost(t, "run", job(t, mixedJob))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	path := filepath.Join(dir, "junit.xml")
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is needed: apt-get install libxml2-utils (make test does: scripts/test-deps)")
	}
	if out, err := exec.Command("xmllint", "--noout", "--schema", "../host/results/testdata/jenkins-junit.xsd", path).CombinedOutput(); err != nil {
		t.Fatalf("junit.xml does not validate: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDocX
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	f := r.results(t)
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
			if len(s.Cases) != 1 || s.Cases[0].Skipped == nil || *s.Cases[0].Skipped != "blocked: dependency checks ended Failed" {
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
					if n.Type == "step" && n.Result.Value.String() == "failed" && failed == nil {
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
				if c.Name == failed.ID+" "+failed.Name {
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
