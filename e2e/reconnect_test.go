package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestReconnectLosesNothing: a task reports 20,000 steps while the hub
// drops its connection every 3,000 events; results.json has every step
// exactly once, in order.
func TestReconnectLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 20000
	r := taskhost(t, "run", "--test-fault-drop-every", "3000", job(t, `
job "reconnect" {}
task "many" {
  pack = "testpack"
  task = "many"
  args = { n = `+strconv.Itoa(n)+` }
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if drops := runEndedCount(t, r.runDir(t), "dropped_connections"); drops < 5 {
		t.Fatalf("the hub dropped %d connections, want at least 5", drops)
	}
	checkSteps(t, r, n)
}

// runEndedCount reads a count from job.log's "run ended" line.
func runEndedCount(t *testing.T, runDir, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "job.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, name+"="); i >= 0 && strings.Contains(line, "run ended") {
			n, _ := strconv.Atoi(strings.Fields(line[i+len(name)+1:])[0])
			return n
		}
	}
	t.Fatalf("job.log has no %s", name)
	return 0
}

// checkSteps checks that task many reported steps s1..sN, each once, in
// order.
func checkSteps(t *testing.T, r runResult, n int) {
	t.Helper()
	steps := taskByID(t, r.results(t), "many").Sections
	if len(steps) != n {
		t.Fatalf("%d steps in results.json, want %d", len(steps), n)
	}
	for i, s := range steps {
		want := "s" + strconv.Itoa(i+1)
		if s.Name != want || s.ID != strconv.Itoa(i+1) {
			t.Fatalf("step %d is %s %q, want %d %q (out of order, lost or doubled)", i, s.ID, s.Name, i+1, want)
		}
	}
}
