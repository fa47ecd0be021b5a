// Command demo is a task pack that shows what a task can report: sections,
// nested steps, data, every result, and a crash.
package main

import (
	"fmt"
	"time"

	"github.com/taskhost/taskhost/sdk"
)

func main() {
	s := sdk.NewSet("demo", "0.1.0")
	sdk.Register(s, "hello", "Greets someone and passes.", Hello)
	sdk.Register(s, "checks", "A testscript with setup, testcases and cleanup, whose steps end in every result.", Checks)
	sdk.Register(s, "wait", "Waits for a while, then passes; stops early when told to.", Wait)
	sdk.Register(s, "crash", "Panics in a step: the step and the task are Errored, with the stack in the log.", Crash)
	registerLookup(s)
	s.Run()
}

// HelloArgs are the arguments of hello.
type HelloArgs struct {
	Name  string `arg:"name,required" doc:"who to greet"`
	Times int    `arg:"times" doc:"how many greetings (default 1)"`
}

// Hello greets someone.
func Hello(t *sdk.T, args HelloArgs) {
	n := max(args.Times, 1)
	t.Step("greet", func(t *sdk.T) {
		for i := range n {
			t.Logf("hello, %s (%d of %d)", args.Name, i+1, n)
		}
		t.SetData(map[string]any{"name": args.Name, "greetings": n})
	})
}

// ChecksArgs are the arguments of checks.
type ChecksArgs struct {
	Device string `arg:"device" doc:"the device under test (only logged)"`
}

// Checks reports a tree with each kind of result.
func Checks(t *sdk.T, args ChecksArgs) {
	t.Section("setup", func(t *sdk.T) {
		t.Step("connect", func(t *sdk.T) {
			t.Logf("connecting to %s", args.Device)
			t.SetData(map[string]string{"device": args.Device, "os": "iosxe"})
		})
	})
	t.Section("interfaces", func(t *sdk.T) {
		t.Step("Gi0/1 is up", func(t *sdk.T) {})
		t.Step("Gi0/2 is up", func(t *sdk.T) {
			t.Failf("Gi0/2 is down (expected up)")
		}, sdk.Continue)
		t.Step("Gi0/3 counters", func(t *sdk.T) {
			t.Step("input errors", func(t *sdk.T) { t.SetData(map[string]int{"input_errors": 0}) })
			t.Step("CRC errors", func(t *sdk.T) { t.Passx("3 CRC errors, under the limit of 10") })
		}, sdk.Continue)
	}, sdk.Continue)
	t.Section("routing", func(t *sdk.T) {
		t.Step("OSPF neighbours", func(t *sdk.T) { t.Skip("OSPF is not configured on this device") })
		t.Step("BGP sessions", func(t *sdk.T) { t.Block("needs the BGP feature set") }, sdk.Continue)
	}, sdk.Continue)
	t.Section("cleanup", func(t *sdk.T) {
		t.Step("disconnect", func(t *sdk.T) { t.Log("disconnected") })
	})
}

// WaitArgs are the arguments of wait.
type WaitArgs struct {
	Duration time.Duration `arg:"duration" doc:"how long to wait, e.g. \"2s\""`
}

// Wait waits for a while.
func Wait(t *sdk.T, args WaitArgs) {
	t.Step(fmt.Sprintf("wait %s", args.Duration), func(t *sdk.T) {
		select {
		case <-time.After(args.Duration):
		case <-t.Context().Done():
			t.Abort("told to stop")
		}
	})
}

// Crash panics.
func Crash(t *sdk.T, _ sdk.NoArgs) {
	t.Step("before the crash", func(t *sdk.T) { t.Log("all is well") })
	t.Step("the crash", func(t *sdk.T) {
		var m map[string]int
		m["boom"]++ // a nil map: panics
	})
}
