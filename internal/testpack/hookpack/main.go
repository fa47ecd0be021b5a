// Command hookpack is a task pack for taskhost's own tests of hooks,
// --debug and --interactive: a hook that records each of its calls in a
// file and fails where it is told to, a task that asks a question, and a
// task to stop in with a debugger.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/taskhost/taskhost/sdk"
)

// RecordArgs are the record hook's arguments.
type RecordArgs struct {
	File     string `arg:"file,required" doc:"the file to append a line to at each call"`
	Label    string `doc:"the first word of each line"`
	FailAt   string `doc:"the stage at which to fail"`
	FailTask string `doc:"with fail_at pre_task or post_task: fail only around this task"`
	Crash    bool   `doc:"exit the process instead of failing"`
}

func main() {
	s := sdk.NewSet("hookpack", "1.0.0")
	sdk.RegisterHook(s, "record", "Appends \"LABEL STAGE TASK RESULT\" to a file at each call; fails at fail_at.", sdk.Stages, Record)
	sdk.RegisterHook(s, "seed", "Puts hooks.seed = \"from pre_job\" in the shared state.", []sdk.Stage{sdk.PreJob}, func(t *sdk.T, h *sdk.Hook, _ sdk.NoArgs) {
		if _, err := t.State().Put("hooks.seed", "from pre_job"); err != nil {
			t.Errorf("put: %v", err)
		}
	})
	sdk.RegisterHook(s, "hold", "Writes the started file, then waits (up to a minute) until the release file exists.", []sdk.Stage{sdk.PostJob}, Hold)
	sdk.Register(s, "pass", "Passes.", func(t *sdk.T, _ sdk.NoArgs) { t.Step("ok", func(t *sdk.T) {}) })
	sdk.Register(s, "seeded", "Passes when the shared state has hooks.seed from the seed hook.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("read hooks.seed", func(t *sdk.T) {
			var v string
			if _, err := t.State().Get("hooks.seed", &v); err != nil || v != "from pre_job" {
				t.Failf("hooks.seed = %q (%v)", v, err)
			}
		})
	})
	sdk.Register(s, "ask", "Asks for a name on the terminal and keeps the answer as data.", Ask)
	sdk.Register(s, "debugme", "Adds two numbers in a function to stop in with a debugger.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("add", func(t *sdk.T) {
			if got := debugTarget(2, 3); got != 5 {
				t.Failf("2 + 3 = %d", got)
			}
		})
	})
	s.Run()
}

// debugTarget is where the --debug test sets its breakpoint.
//
//go:noinline
func debugTarget(a, b int) int {
	sum := a + b
	return sum
}

// Record is the record hook.
func Record(t *sdk.T, h *sdk.Hook, a RecordArgs) {
	res := h.Results.Result.String()
	if h.Task != "" {
		res = "-"
		for _, ts := range h.Results.Tasks {
			if ts.ID == h.Task && ts.Result != 0 {
				res = ts.Result.String()
			}
		}
	}
	line := fmt.Sprintf("%s %s %s %s total=%d\n", a.Label, h.Stage, orDash(h.Task), res, h.Results.Summary.Total)
	f, err := os.OpenFile(a.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Errorf("%v", err)
	}
	_, err = f.WriteString(line)
	f.Close()
	if err != nil {
		t.Errorf("%v", err)
	}
	if string(h.Stage) == a.FailAt && (a.FailTask == "" || a.FailTask == h.Task) {
		if a.Crash {
			os.Exit(7)
		}
		t.Failf("%s fails at %s on purpose", a.Label, h.Stage)
	}
}

// HoldArgs are the hold hook's arguments.
type HoldArgs struct {
	Started string `arg:"started,required"`
	Release string `arg:"release,required"`
}

// Hold is the hold hook: it keeps the run in its post_job stage until the
// test lets it go.
func Hold(t *sdk.T, _ *sdk.Hook, a HoldArgs) {
	if err := os.WriteFile(a.Started, nil, 0o644); err != nil {
		t.Errorf("%v", err)
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(a.Release); err == nil {
			return
		}
	}
	t.Failf("%s did not appear within a minute", a.Release)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Ask is the ask task.
func Ask(t *sdk.T, _ sdk.NoArgs) {
	t.Step("ask", func(t *sdk.T) {
		fmt.Print("What is your name? ")
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil {
			t.Errorf("read the answer: %v", err)
		}
		name := strings.TrimSpace(line)
		fmt.Printf("Hello, %s!\n", name)
		t.SetData(map[string]string{"answer": name})
	})
}
