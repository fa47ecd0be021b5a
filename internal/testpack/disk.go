package main

import (
	"os"
	"strconv"
	"time"

	"github.com/taskhost/taskhost/sdk"
)

// registerDiskTasks adds the tasks of the tests of a full disk.
func registerDiskTasks(s *sdk.Set) {
	sdk.Register(s, "gated", "Creates the file ready, waits until the file go exists, then reports steps s1 to sN, logging lines in each.", Gated)
}

// GatedArgs are gated's arguments.
type GatedArgs struct {
	Ready string        `arg:"ready,required" doc:"a file the task creates once it runs"`
	Go    string        `arg:"go,required" doc:"a file the task waits for (up to two minutes) before it reports"`
	Steps int           `arg:"steps" doc:"how many steps to report"`
	Lines int           `arg:"lines" doc:"how many lines of about 100 bytes to log in each step"`
	Pause time.Duration `arg:"pause" doc:"how long to wait after each step"`
	Hold  time.Duration `arg:"hold" doc:"how long to wait, without reporting or logging, after the steps"`
}

// Gated lets a test do something (fill the disk) between the task's start
// and its reporting.
func Gated(t *sdk.T, a GatedArgs) {
	const filler = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs"
	if err := os.WriteFile(a.Ready, nil, 0o644); err != nil {
		t.Errorf("%v", err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if _, err := os.Stat(a.Go); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s did not appear within two minutes", a.Go)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 1; i <= a.Steps; i++ {
		t.Step("s"+strconv.Itoa(i), func(t *sdk.T) {
			for j := 0; j < a.Lines; j++ {
				t.Logf("%07d %s", j, filler)
			}
		})
		time.Sleep(a.Pause)
	}
	time.Sleep(a.Hold)
}
