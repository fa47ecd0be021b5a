package e2e

import (
	"bufio"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/runner"
)

// run --json: task_started and task_finished name the pack and the
// attempt; task_finished and step_finished say how long it took.
func TestJSONEventsHaveDurationPackAndAttempt(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", "--json", job(t, `
job "fields" {}
task "flaky" {
  pack    = "testpack"
  task    = "flaky"
  args    = { key = "a", fail_times = 1 }
  retries = 1
}
task "after" {
  pack       = "demo"
  task       = "hello"
  args       = { name = "events" }
  depends_on = [task.flaky]
}
task "blocked" {
  pack       = "testpack"
  task       = "fail"
  depends_on = [task.never]
}
task "never" {
  pack = "testpack"
  task = "fail"
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var starts, ends []runner.Event
	steps := 0
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var e runner.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		switch e.Type {
		case runner.EventTaskStarted:
			starts = append(starts, e)
		case runner.EventTaskFinished:
			ends = append(ends, e)
		case runner.EventStepFinished:
			steps++
			if e.Duration <= 0 {
				t.Errorf("step_finished without a duration: %s", sc.Text())
			}
		}
	}
	if steps == 0 {
		t.Fatalf("no step_finished events:\n%s", r.stdout)
	}
	var got []string
	for _, e := range starts {
		got = append(got, e.Task+" "+e.Pack+" "+itoa(e.Attempt))
	}
	slices.Sort(got)
	if want := "after demo 1, flaky testpack 1, flaky testpack 2, never testpack 1"; strings.Join(got, ", ") != want {
		t.Errorf("task_started: %s, want %s", strings.Join(got, ", "), want)
	}
	got = nil
	for _, e := range ends {
		got = append(got, e.Task+" "+e.Pack+" "+itoa(e.Attempt))
		if started := e.Task != "blocked"; started != (e.Duration > 0) {
			t.Errorf("task_finished of %s: duration %v", e.Task, e.Duration)
		}
	}
	for _, want := range []string{"flaky testpack 2", "after demo 1", "never testpack 1", "blocked testpack 0"} {
		if !strings.Contains(strings.Join(got, ", "), want) {
			t.Errorf("task_finished: %s, want %s among them", strings.Join(got, ", "), want)
		}
	}
	// The fields' names on the wire.
	for _, name := range []string{`"duration":`, `"pack":"testpack"`, `"attempt":2`} {
		if !strings.Contains(r.stdout, name) {
			t.Errorf("no %s in the events:\n%s", name, r.stdout)
		}
	}
}
