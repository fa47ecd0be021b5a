package main

import (
	"github.com/taskhost/taskhost/sdk"
)

// CommandArgs are command's arguments.
type CommandArgs struct {
	Argv []string `arg:"argv,required"`
}

// registerCommandTasks registers command, which runs a program given in
// the jobfile as a child joined to the task.
func registerCommandTasks(s *sdk.Set) {
	sdk.Register(s, "command", "Runs argv with t.Command in a step spawn, then a step after; spawn fails when argv does.", func(t *sdk.T, a CommandArgs) {
		t.Step("spawn", func(t *sdk.T) {
			if len(a.Argv) == 0 {
				t.Failf("argv is empty")
			}
			if err := t.Command(a.Argv[0], a.Argv[1:]...).Run(); err != nil {
				t.Failf("%v: %v", a.Argv, err)
			}
		})
		t.Step("after", func(t *sdk.T) {})
	})
}
