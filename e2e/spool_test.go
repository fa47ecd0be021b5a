package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// TestManyStepsSpooled: a task of 10,000 steps, more than the host keeps
// in memory while it runs. The first of them are spooled to a file in the
// run's hub/ and let go of (job.log says how many); results.json,
// junit.xml and report.html still hold every step in order, the spool is
// gone once the run ended, and `results recover` rebuilds the same record.
func TestManyStepsSpooled(t *testing.T) {
	t.Parallel()
	const n = 10000
	r := taskhost(t, "run", job(t, `
job "spool" {}
task "many" {
  pack = "testpack"
  task = "many"
  args = { n = `+strconv.Itoa(n)+` }
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	log, err := os.ReadFile(filepath.Join(dir, "job.log"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`task ended: task=many .*spooled_sections=(\d+)`).FindSubmatch(log)
	if m == nil {
		t.Fatalf("job.log does not say the task's sections were spooled:\n%s", log)
	}
	if k, _ := strconv.Atoi(string(m[1])); k <= 0 || k >= n {
		t.Errorf("%d sections spooled, want some and not all", k)
	}
	f := r.results(t)
	many := taskByID(t, f, "many")
	if len(many.Sections) != n || many.Summary.Passed != n || many.Result.Value != result.Passed {
		t.Fatalf("many: %s with %d sections, %d passed; want passed with %d", many.Result.Value, len(many.Sections), many.Summary.Passed, n)
	}
	for i, s := range many.Sections {
		if want := fmt.Sprintf("s%d", i+1); s.Name != want {
			t.Fatalf("section %d is %q, want %q", i+1, s.Name, want)
		}
	}
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(junit), "<testcase "); c != n {
		t.Errorf("junit.xml has %d cases, want %d", c, n)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(html), `<div class="node `); c != n {
		t.Errorf("report.html has %d nodes, want %d", c, n)
	}
	if _, err := os.Stat(filepath.Join(dir, "hub", "spill")); !os.IsNotExist(err) {
		t.Errorf("the spool is left in the run directory: %v", err)
	}
	recoverAgrees(t, dir, "many")
}
