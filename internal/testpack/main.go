// Command testpack is a task pack for taskhost's own tests: tasks that
// hold, report a given tree, exit, kill themselves, hang or panic.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/taskhost/taskhost/internal/result"
	"github.com/taskhost/taskhost/sdk"
)

func main() {
	s := sdk.NewSet("testpack", "1.0.0")
	sdk.Register(s, "pass", "Passes.", func(t *sdk.T, _ sdk.NoArgs) { t.Step("ok", func(t *sdk.T) {}) })
	sdk.Register(s, "fail", "Fails.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("check", func(t *sdk.T) { t.Failf("failed on purpose") })
	})
	sdk.Register(s, "hold", "Holds for a while and records when it started and stopped, and its pid.", Hold)
	sdk.Register(s, "meet", "Leaves a file named after itself in dir and waits until its peer's file is there too.", Meet)
	sdk.Register(s, "children", "Starts two SDK children (this binary's run mode) and one plain child.", Children)
	sdk.Register(s, "childsteps", "What a child started by children reports.", ChildSteps)
	sdk.Register(s, "many", "Reports n steps, named s1 to sN.", func(t *sdk.T, a ManyArgs) {
		for i := 1; i <= a.N; i++ {
			t.Step("s"+strconv.Itoa(i), func(t *sdk.T) {})
		}
	})
	sdk.Register(s, "logs", "Logs n lines of about 100 bytes.", func(t *sdk.T, a ManyArgs) {
		const filler = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs"
		for i := 0; i < a.N; i++ {
			t.Logf("%07d %s", i, filler)
		}
	})
	sdk.Register(s, "taskdata", "Sets data on the task itself.", func(t *sdk.T, _ sdk.NoArgs) {
		t.SetData(map[string]int{"devices": 3})
	})
	sdk.Register(s, "tree", "Reports the tree it is given.", Tree)
	sdk.Register(s, "exit", "Exits the process with a status, in a step.", func(t *sdk.T, a ExitArgs) {
		t.Step("exit", func(t *sdk.T) { os.Exit(a.Status) })
	})
	sdk.Register(s, "kill", "Kills its own process with a signal, in a step.", func(t *sdk.T, a KillArgs) {
		t.Step("kill", func(t *sdk.T) {
			sig := syscall.SIGKILL
			if a.Signal != 0 {
				sig = syscall.Signal(a.Signal)
			}
			_ = syscall.Kill(os.Getpid(), sig)
			time.Sleep(time.Minute)
		})
	})
	sdk.Register(s, "panic", "Panics at the top level of the task.", func(t *sdk.T, _ sdk.NoArgs) {
		panic("top-level panic on purpose")
	})
	sdk.Register(s, "hang", "Ignores its context and sleeps; optionally starts a child that ignores SIGTERM and writes its pid to a file.", Hang)
	s.Run()
}

// HoldArgs are hold's arguments.
type HoldArgs struct {
	For time.Duration `arg:"duration"`
}

// Hold sleeps and records its times.
func Hold(t *sdk.T, a HoldArgs) {
	t.Step("hold", func(t *sdk.T) {
		start := time.Now()
		select {
		case <-time.After(a.For):
		case <-t.Context().Done():
			t.Abort("stopped")
		}
		t.SetData(map[string]any{"start": start.UnixNano(), "stop": time.Now().UnixNano(), "pid": os.Getpid()})
	})
}

// MeetArgs are meet's arguments.
type MeetArgs struct {
	Dir  string        `arg:"dir,required"`
	Name string        `arg:"name,required"`
	Peer string        `arg:"peer,required"`
	Wait time.Duration `arg:"wait" doc:"how long to wait for the peer (default 30s)"`
}

// Meet passes only if its peer runs at the same time.
func Meet(t *sdk.T, a MeetArgs) {
	if a.Wait == 0 {
		a.Wait = 30 * time.Second
	}
	t.Step("meet "+a.Peer, func(t *sdk.T) {
		if err := os.WriteFile(filepath.Join(a.Dir, a.Name), nil, 0o644); err != nil {
			t.Errorf("%v", err)
		}
		deadline := time.Now().Add(a.Wait)
		for {
			if _, err := os.Stat(filepath.Join(a.Dir, a.Peer)); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Failf("%s did not show up within %s", a.Peer, a.Wait)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Children starts two children that use the SDK and one that does not.
func Children(t *sdk.T, _ sdk.NoArgs) {
	exe, err := os.Executable()
	if err != nil {
		t.Errorf("%v", err)
	}
	t.Step("spawn", func(t *sdk.T) {
		for i := range 2 {
			c := t.Command(exe, "run", "childsteps", "--arg", fmt.Sprintf("n=%d", i))
			if err := c.Run(); err != nil {
				t.Failf("child %d: %v", i, err)
			}
		}
		c := t.Command("sh", "-c", "echo plain out; echo plain err >&2")
		if err := c.Run(); err != nil {
			t.Failf("plain child: %v", err)
		}
	})
	t.Step("after", func(t *sdk.T) {})
}

// ManyArgs are many's arguments.
type ManyArgs struct {
	N int `arg:"n,required"`
}

// ChildArgs are childsteps' arguments.
type ChildArgs struct {
	N int `arg:"n"`
}

// ChildSteps reports two nested steps and logs.
func ChildSteps(t *sdk.T, a ChildArgs) {
	t.Logf("child %d says hello", a.N)
	t.Step(fmt.Sprintf("child %d", a.N), func(t *sdk.T) {
		t.Step("inner", func(t *sdk.T) { t.Logf("inner of child %d", a.N) })
	})
}

// Node is a step to report: its result (a pyATS name, or "" for none
// set), its children, and whether a failure in it lets its parent go on.
type Node struct {
	Name     string `json:"name"`
	Result   string `json:"result"`
	Continue bool   `json:"continue"`
	Steps    []Node `json:"steps"`
}

// TreeArgs are tree's arguments: the steps, as JSON (a list of Node).
type TreeArgs struct {
	Steps json.RawMessage `arg:"steps"`
}

// Tree reports the tree it is given.
func Tree(t *sdk.T, a TreeArgs) {
	var steps []Node
	if err := json.Unmarshal(a.Steps, &steps); err != nil {
		t.Errorf("steps: %v", err)
	}
	report(t, steps)
}

func report(t *sdk.T, steps []Node) {
	for _, n := range steps {
		var opts []sdk.StepOption
		if n.Continue {
			opts = append(opts, sdk.Continue)
		}
		t.Step(n.Name, func(t *sdk.T) {
			report(t, n.Steps)
			if n.Result == "" {
				return
			}
			r, err := result.Parse(n.Result)
			if err != nil {
				t.Errorf("%v", err)
			}
			reason := "set to " + n.Result
			switch r {
			case result.Passed:
			case result.Failed:
				t.Failf("%s", reason)
			case result.Errored:
				t.Errorf("%s", reason)
			case result.Aborted:
				t.Abort(reason)
			case result.Blocked:
				t.Block(reason)
			case result.Skipped:
				t.Skip(reason)
			case result.Passx:
				t.Passx(reason)
			}
		}, opts...)
	}
}

// ExitArgs are exit's arguments.
type ExitArgs struct {
	Status int `arg:"status"`
}

// KillArgs are kill's arguments.
type KillArgs struct {
	Signal int `arg:"signal" doc:"signal number (default SIGKILL)"`
}

// HangArgs are hang's arguments.
type HangArgs struct {
	ChildPidFile string `arg:"child_pid_file" doc:"start a child that ignores SIGTERM and write its pid here"`
}

// Hang never returns by itself.
func Hang(t *sdk.T, a HangArgs) {
	t.Step("hang", func(t *sdk.T) {
		if a.ChildPidFile != "" {
			cmd := exec.Command("sh", "-c", "trap '' TERM; while :; do sleep 1; done")
			if err := cmd.Start(); err != nil {
				t.Errorf("start child: %v", err)
			}
			if err := os.WriteFile(a.ChildPidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
				t.Errorf("%v", err)
			}
			t.Log(fmt.Sprintf("started child %d", cmd.Process.Pid))
		}
		for {
			time.Sleep(time.Hour)
		}
	})
}
