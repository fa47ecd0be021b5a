package e2e

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestJSONEventStream: `run --json` prints one JSON object per line for
// each event, and only those on stdout.
func TestJSONEventStream(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", "--json", job(t, `
job "events" { max_parallel = 1 }
task "kids" {
  pack = "testpack"
  task = "children"
}
task "broken" {
  pack = "testpack"
  task = "fail"
}
task "blocked" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.broken]
}
`))
	if r.code != 1 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var events []runner.Event
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var e runner.Event
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("stdout line is not an event: %q: %v", sc.Text(), err)
		}
		events = append(events, e)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.Type]++
	}
	// kids: spawn, after, and 2 children × 2 steps; broken: check.
	want := map[string]int{
		runner.EventJobStarted: 1, runner.EventTaskStarted: 2, runner.EventStepStarted: 7,
		runner.EventStepFinished: 7, runner.EventLogFile: 3, runner.EventTaskFinished: 3, runner.EventJobFinished: 1,
	}
	for typ, n := range want {
		if count[typ] != n {
			t.Errorf("%d %s events, want %d", count[typ], typ, n)
		}
	}
	if events[0].Type != runner.EventJobStarted || events[len(events)-1].Type != runner.EventJobFinished {
		t.Errorf("stream does not start with job_started and end with job_finished: %s … %s", events[0].Type, events[len(events)-1].Type)
	}
	if last := events[len(events)-1]; last.Result != result.Failed || last.Summary == nil || last.Summary.Total != 3 {
		t.Errorf("job_finished: %+v", last)
	}
	// Per task, a step finishes after it starts, and the task finishes last.
	started := map[string]bool{}
	finished := map[string]bool{}
	for _, e := range events {
		key := e.Task + " " + e.Step
		switch e.Type {
		case runner.EventStepStarted:
			started[key] = true
		case runner.EventStepFinished:
			if !started[key] {
				t.Errorf("step %s finished before it started", key)
			}
		case runner.EventTaskFinished:
			finished[e.Task] = true
		}
		if (e.Type == runner.EventStepStarted || e.Type == runner.EventStepFinished) && finished[e.Task] {
			t.Errorf("step event after task %s finished: %+v", e.Task, e)
		}
	}
	for _, e := range events {
		if e.Type == runner.EventTaskFinished && e.Task == "blocked" && e.Result != result.Blocked {
			t.Errorf("blocked task finished %s", e.Result)
		}
	}
	if !strings.Contains(r.stderr, "Run directory:") {
		t.Errorf("summary not on stderr:\n%s", r.stderr)
	}
}

func TestLogsCommand(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", job(t, `
job "logs" {}
task "kids" {
  pack = "testpack"
  task = "children"
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	all := taskhost(t, "logs", dir)
	for _, want := range []string{"run started", "==> tasks/kids/task.log <==", "STEP 1: spawn", "plain out", "inner of child 1"} {
		if !strings.Contains(all.stdout, want) {
			t.Errorf("logs RUNDIR lacks %q:\n%s", want, all.stdout)
		}
	}
	step := taskhost(t, "logs", dir, "kids", "2")
	if step.code != 0 || !strings.Contains(step.stdout, "STEP 2: after") || strings.Contains(step.stdout, "spawn") {
		t.Errorf("logs RUNDIR kids 2: exit %d\n%s%s", step.code, step.stdout, step.stderr)
	}
	none := taskhost(t, "logs", dir, "nosuch")
	if none.code == 0 {
		t.Errorf("logs of an unknown task: exit 0")
	}
}
