// Command agentpack is a task pack for the tests of tasks run by agents:
// one task that logs, adds to a shared counter, and on its first attempt
// may say where it runs and hold.
package main

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/taskhost/taskhost/sdk"
)

func main() {
	s := sdk.NewSet("agentpack", "1.0.0")
	sdk.Register(s, "work", "Logs lines, adds 1 to a counter, and on its first attempt may write its pid to a file and hold.", Work)
	s.Run()
}

// WorkArgs are work's arguments.
type WorkArgs struct {
	Name  string        `arg:"name,required" doc:"names the task's lines, its attempts' counter and its file"`
	Lines int           `arg:"lines" doc:"how many lines to log, \"NAME line I\""`
	Key   string        `arg:"key" doc:"the counter to add 1 to (default count)"`
	Dir   string        `arg:"dir" doc:"on the first attempt, write the pid to DIR/NAME.pid before holding"`
	Hold  time.Duration `arg:"hold" doc:"on the first attempt, hold this long (or until stopped)"`
}

// Work logs its lines, adds 1 to the counter, counts its attempt in
// tries.NAME, and on the first attempt writes its pid and holds.
func Work(t *sdk.T, a WorkArgs) {
	key := a.Key
	if key == "" {
		key = "count"
	}
	var try int64
	t.Step("log", func(t *sdk.T) {
		for i := 1; i <= a.Lines; i++ {
			t.Logf("%s line %d", a.Name, i)
		}
	})
	t.Step("add", func(t *sdk.T) {
		if _, err := t.State().Add(key, 1); err != nil {
			t.Errorf("add %s: %v", key, err)
		}
		n, err := t.State().Add("tries."+a.Name, 1)
		if err != nil {
			t.Errorf("add tries.%s: %v", a.Name, err)
		}
		try = n
	})
	if try != 1 {
		return
	}
	if a.Dir != "" {
		t.Step("pid", func(t *sdk.T) {
			tmp := filepath.Join(a.Dir, a.Name+".pid.tmp")
			if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				t.Errorf("%v", err)
			}
			if err := os.Rename(tmp, filepath.Join(a.Dir, a.Name+".pid")); err != nil {
				t.Errorf("%v", err)
			}
		})
	}
	if a.Hold > 0 {
		t.Step("hold", func(t *sdk.T) {
			select {
			case <-time.After(a.Hold):
			case <-t.Context().Done():
				t.Abort("stopped")
			}
		})
	}
}
