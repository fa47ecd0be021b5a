package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestPythonReconnectLosesNothing: a Python task reports 20,000 steps
// while the hub drops its connection every 3,000 events; results.json
// has every step exactly once, in order.
func TestPythonReconnectLosesNothing(t *testing.T) {
	t.Parallel()
	const n = 20000
	r := taskhost(t, "run", "--test-fault-drop-every", "3000", job(t, fmt.Sprintf(`
job "pyreconnect" {}
pack "pyload" { path = %q }
task "many" {
  pack    = "pyload"
  task    = "many"
  args    = { n = %d }
  timeout = "5m"
}
`, pyPack(t, "testdata/pyload"), n)))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if drops := runEndedCount(t, r.runDir(t), "dropped_connections"); drops < 5 {
		t.Fatalf("the hub dropped %d connections, want at least 5", drops)
	} else {
		t.Logf("the hub dropped the task's connection %d times", drops)
	}
	checkSteps(t, r, n)
}

// TestPythonCounterWithDrops: 4 Python tasks each add 1 to one counter
// 1,000 times at once while the state server drops every connection
// after every 500th request, before answering it: exactly 4,000.
func TestPythonCounterWithDrops(t *testing.T) {
	t.Parallel()
	var body strings.Builder
	fmt.Fprintf(&body, "job \"pycounter\" { max_parallel = 4 }\npack \"pyload\" { path = %q }\nstate {\n  counter = 0\n}\n", pyPack(t, "testdata/pyload"))
	for i := range 4 {
		fmt.Fprintf(&body, "task \"c%d\" {\n  pack = \"pyload\"\n  task = \"count\"\n  args = { key = \"counter\", n = 1000 }\n  timeout = \"5m\"\n}\n", i)
	}
	r := taskhost(t, "run", "--test-fault-drop-every", "500", job(t, body.String()))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	if got := string(f.Report.State["counter"]); got != "4000" {
		t.Errorf("counter = %s, want 4000", got)
	}
	// 4,000 additions and a few other requests: 8 drops, each losing the
	// answer to an addition that applied.
	if n := strings.Count(mustRead(t, r.runDir(t)+"/job.log"), "dropping every state connection"); n < 8 {
		t.Errorf("the state server dropped the connections %d times; want 8", n)
	} else {
		t.Logf("the state server dropped every connection %d times", n)
	}
}
