package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
)

// TestCmdChildSetUp: every method of Cmd that starts the child, Output
// and CombinedOutput included, starts it joined to the task: with
// TASKHOST_CHILD in its environment, its unset stderr in its own log
// file, and the parent-death signal where there is one.
func TestCmdChildSetUp(t *testing.T) {
	t.Parallel()
	const script = `printf '%s' "$TASKHOST_CHILD"; echo " to stderr" >&2`
	for name, run := range map[string]func(c *Cmd) ([]byte, error){
		"Output":         (*Cmd).Output,
		"CombinedOutput": (*Cmd).CombinedOutput,
		"Run": func(c *Cmd) ([]byte, error) {
			var b bytes.Buffer
			c.Stdout = &b
			err := c.Run()
			return b.Bytes(), err
		},
		"StdoutPipe": func(c *Cmd) ([]byte, error) {
			r, err := c.StdoutPipe()
			if err != nil {
				return nil, err
			}
			if err := c.Start(); err != nil {
				return nil, err
			}
			var b bytes.Buffer
			_, _ = b.ReadFrom(r)
			return b.Bytes(), c.Wait()
		},
	} {
		t.Run(name, func(tt *testing.T) {
			tt.Parallel()
			dir := filepath.Join(tt.TempDir(), "tasks", "x")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				tt.Fatal(err)
			}
			rs := &taskenv.Env{TaskID: "x", Emit: emit.NewMem(), PID: 1, LogDir: dir,
				Hub: &packv1.Hub{Url: "nats://127.0.0.1:1", Token: "tok", EventsSubject: "ev"}}
			var c *Cmd
			var out []byte
			var err error
			logger := hclog.NewNullLogger()
			runTask(context.Background(), rs, logger, func(t *T) {
				t.Step("s", func(t *T) {
					c = t.Command("sh", "-c", script)
					out, err = run(c)
				})
			})
			if err != nil {
				tt.Fatalf("%v (output %q)", err, out)
			}
			text, toStderr := string(out), strings.Contains(string(out), "to stderr")
			text = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(text), "to stderr"))
			var ci struct {
				TaskID string `json:"task_id"`
				Parent string `json:"parent"`
				Token  string `json:"token"`
				LogDir string `json:"log_dir"`
			}
			if err := json.Unmarshal([]byte(text), &ci); err != nil {
				tt.Fatalf("the child's TASKHOST_CHILD %q: %v", text, err)
			}
			if ci.TaskID != "x" || ci.Parent != "1" || ci.Token != "tok" || ci.LogDir != dir {
				tt.Errorf("TASKHOST_CHILD = %+v", ci)
			}
			if want := name == "CombinedOutput"; toStderr != want {
				tt.Errorf("stderr in the output: %v, want %v", toStderr, want)
			}
			if name != "CombinedOutput" {
				if c.LogFile == "" {
					tt.Fatal("no log file")
				}
				b, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(dir)), c.LogFile))
				if err != nil || !strings.Contains(string(b), "to stderr") {
					tt.Errorf("log file %s: %q, %v", c.LogFile, b, err)
				}
			}
			checkParentDeathSignal(tt, c.cmd.SysProcAttr)
			if c.Process == nil || c.ProcessState == nil || !c.ProcessState.Success() {
				tt.Errorf("Process %v, ProcessState %v", c.Process, c.ProcessState)
			}
		})
	}
}
