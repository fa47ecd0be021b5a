package sdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/sdk/internal/packcli"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
)

// Cmd is a child process of a task, started with T.Command. It has the
// fields of an exec.Cmd that one sets before starting it (set them as
// usual) and the methods one calls on it; each method that starts the
// process (Start, Run, Output, CombinedOutput) starts it joined to the
// task: it inherits the task's hub credentials through its environment,
// so that a child using the SDK (RunChild, or a pack binary's `run` mode)
// reports its steps under the step that started it; and what it writes to
// stdout and stderr (unless you set them) goes to its own log file,
// tasks/<id>/pid-<pid>.log. It is killed when the task's context ends or,
// on Linux, when the task process dies.
type Cmd struct {
	// Path, Args, Env, Dir, Stdin, Stdout, Stderr, ExtraFiles,
	// SysProcAttr, Cancel and WaitDelay are those of exec.Cmd. Env nil
	// is the task's environment; Stdout or Stderr nil is the child's log
	// file (discarded without a host); SysProcAttr nil asks, on Linux, for
	// SIGKILL when the task process dies.
	Path        string
	Args        []string
	Env         []string
	Dir         string
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	ExtraFiles  []*os.File
	SysProcAttr *syscall.SysProcAttr
	Cancel      func() error
	WaitDelay   time.Duration

	// Process is the child once started; ProcessState, once waited for.
	Process      *os.Process
	ProcessState *os.ProcessState

	// LogFile is the child's log file (relative to the run directory),
	// set by Start; empty when the task runs without a host.
	LogFile string

	cmd *exec.Cmd
	t   *T
}

// Command returns a Cmd to run the named program with the given arguments,
// as exec.CommandContext does with the task's context.
func (t *T) Command(name string, args ...string) *Cmd {
	c := exec.CommandContext(t.ctx, name, args...)
	return &Cmd{Path: c.Path, Args: c.Args, cmd: c, t: t}
}

// String describes the command, as exec.Cmd.String does.
func (c *Cmd) String() string {
	c.sync()
	return c.cmd.String()
}

// Environ is the environment the child would run with, before the SDK
// adds TASKHOST_CHILD, as exec.Cmd.Environ says.
func (c *Cmd) Environ() []string {
	c.sync()
	return c.cmd.Environ()
}

// sync copies the fields set on c to the exec.Cmd that runs the child.
func (c *Cmd) sync() {
	x := c.cmd
	x.Path, x.Args, x.Env, x.Dir = c.Path, c.Args, c.Env, c.Dir
	x.Stdin, x.Stdout, x.Stderr = c.Stdin, c.Stdout, c.Stderr
	x.ExtraFiles, x.SysProcAttr, x.WaitDelay = c.ExtraFiles, c.SysProcAttr, c.WaitDelay
	if c.Cancel != nil {
		x.Cancel = c.Cancel
	}
}

// Start starts the child, joined to the task.
func (c *Cmd) Start() error {
	c.sync()
	logFile, err := c.t.run.StartChild(c.cmd, c.t.node.id, c.t.logger)
	if err != nil {
		return err
	}
	c.Process, c.LogFile = c.cmd.Process, logFile
	return nil
}

// Wait waits for the child started with Start to exit, as exec.Cmd.Wait
// does.
func (c *Cmd) Wait() error {
	err := c.cmd.Wait()
	c.ProcessState = c.cmd.ProcessState
	return err
}

// Run starts the child and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the child and returns its standard output (its stderr still
// goes to its log file).
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("sdk: Stdout already set")
	}
	var b bytes.Buffer
	c.Stdout = &b
	err := c.Run()
	return b.Bytes(), err
}

// CombinedOutput runs the child and returns its standard output and
// standard error together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("sdk: Stdout already set")
	}
	if c.Stderr != nil {
		return nil, errors.New("sdk: Stderr already set")
	}
	// exec.Cmd writes to one writer that is both Stdout and Stderr from
	// one goroutine at a time.
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.Bytes(), err
}

// StdinPipe returns a pipe to the child's standard input, as
// exec.Cmd.StdinPipe does.
func (c *Cmd) StdinPipe() (io.WriteCloser, error) {
	if c.Stdin != nil {
		return nil, errors.New("sdk: Stdin already set")
	}
	c.sync()
	w, err := c.cmd.StdinPipe()
	c.Stdin = c.cmd.Stdin
	return w, err
}

// StdoutPipe returns a pipe from the child's standard output, as
// exec.Cmd.StdoutPipe does: read it all before Wait.
func (c *Cmd) StdoutPipe() (io.ReadCloser, error) {
	if c.Stdout != nil {
		return nil, errors.New("sdk: Stdout already set")
	}
	c.sync()
	r, err := c.cmd.StdoutPipe()
	c.Stdout = c.cmd.Stdout
	return r, err
}

// StderrPipe returns a pipe from the child's standard error, as
// exec.Cmd.StderrPipe does: read it all before Wait.
func (c *Cmd) StderrPipe() (io.ReadCloser, error) {
	if c.Stderr != nil {
		return nil, errors.New("sdk: Stderr already set")
	}
	c.sync()
	r, err := c.cmd.StderrPipe()
	c.Stderr = c.cmd.Stderr
	return r, err
}

// RunChild is the main of a program that a task starts with T.Command: fn
// runs as part of that task, and its steps appear in the task's result
// tree under the step that started this process; its log goes to the
// process's own log file. Started any other way, fn runs on its own and
// its result tree is printed. RunChild does not return: the process exits
// with 0 when fn's result is Passed, Passx or Skipped, and 1 otherwise.
func RunChild(fn func(t *T)) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := packcli.RunChild(ctx, packcli.ProgName(), func(ctx context.Context, env *taskenv.Env, logger hclog.Logger) (Result, string) {
		return runTask(ctx, env, logger, fn)
	}, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
