// Command exec is a task pack that runs a command and checks its exit
// status and output.
package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"time"

	"github.com/taskhost/taskhost/sdk"
)

func main() {
	s := sdk.NewSet("exec", "0.1.0")
	sdk.Register(s, "run", "Runs a command and checks its exit status and, optionally, its output.", Run)
	s.Run()
}

// RunArgs are the arguments of run.
type RunArgs struct {
	Command      string            `arg:"command,required" doc:"the program to run (looked up in PATH)"`
	Args         []string          `arg:"args" doc:"its arguments"`
	Env          map[string]string `arg:"env" doc:"environment variables to add"`
	Dir          string            `arg:"dir" doc:"working directory"`
	ExpectStatus int               `arg:"expect_status" doc:"the exit status that passes (default 0)"`
	ExpectOutput string            `arg:"expect_output" doc:"a regular expression that stdout must match"`
	Timeout      time.Duration     `arg:"timeout" doc:"how long the command may run (default: until the task's own timeout)"`
}

// Run runs the command.
func Run(t *sdk.T, args RunArgs) {
	var want *regexp.Regexp
	if args.ExpectOutput != "" {
		var err error
		if want, err = regexp.Compile(args.ExpectOutput); err != nil {
			t.Errorf("expect_output is not a regular expression: %v", err)
		}
	}
	var stdout, stderr bytes.Buffer
	status := -1
	// The step is named after the program alone: its arguments may hold
	// secrets (a password given as an argument), and a step's name is
	// shown everywhere, in reports and CI. They go to the log, where
	// values the host marks sensitive are masked.
	t.Step("run "+args.Command, func(t *sdk.T) {
		// (Quoted as Go does, a form the masking knows.)
		t.Logf("command: %q", append([]string{args.Command}, args.Args...))
		ctx := t.Context()
		if args.Timeout > 0 {
			var cancel func()
			ctx, cancel = context.WithTimeout(ctx, args.Timeout)
			defer cancel()
		}
		cmd := exec.CommandContext(ctx, args.Command, args.Args...)
		cmd.Stdout, cmd.Stderr, cmd.Dir = &stdout, &stderr, args.Dir
		for k, v := range args.Env {
			cmd.Env = append(cmd.Environ(), k+"="+v)
		}
		start := time.Now()
		err := cmd.Run()
		t.Logf("stdout:\n%s", stdout.String())
		if stderr.Len() > 0 {
			t.Logf("stderr:\n%s", stderr.String())
		}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			status = exit.ExitCode()
		case err != nil:
			t.Errorf("could not run %s: %v", args.Command, err)
		default:
			status = 0
		}
		if ctx.Err() != nil {
			t.Abort("stopped: " + ctx.Err().Error())
		}
		t.SetData(map[string]any{"status": status, "elapsed_ms": time.Since(start).Milliseconds()})
	})
	t.Step("exit status", func(t *sdk.T) {
		if status != args.ExpectStatus {
			t.Failf("exit status %d, want %d", status, args.ExpectStatus)
		}
	}, sdk.Continue)
	if want != nil {
		t.Step("output", func(t *sdk.T) {
			if !want.Match(stdout.Bytes()) {
				t.Failf("stdout does not match %q", args.ExpectOutput)
			}
		})
	}
}
