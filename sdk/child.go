package sdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/internal/report"
)

// childEnv is the environment variable through which a task hands a child
// process what it needs to join the task: the hub, its credentials, the
// step it runs under, and where to log.
const childEnv = "TASKHOST_CHILD"

type childInfo struct {
	URL         string `json:"url"`
	Token       string `json:"token"`
	Subject     string `json:"subject"`
	InboxPrefix string `json:"inbox_prefix"`
	MsgIDPrefix string `json:"msg_id_prefix"`
	StateSocket string `json:"state_socket,omitempty"`
	TaskID      string `json:"task_id"`
	Parent      string `json:"parent"`
	LogDir      string `json:"log_dir,omitempty"`
}

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
	rs := c.t.run
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	env = withoutEnv(env, protocol.Handshake.MagicCookieKey, childEnv)
	if rs.hub != nil {
		b, _ := json.Marshal(childInfo{
			URL: rs.hub.GetUrl(), Token: rs.hub.GetToken(), Subject: rs.hub.GetEventsSubject(),
			InboxPrefix: rs.hub.GetInboxPrefix(), MsgIDPrefix: rs.hub.GetMsgIdPrefix(), StateSocket: rs.hub.GetStateSocket(),
			TaskID: rs.taskID, Parent: c.t.node.id, LogDir: rs.logDir,
		})
		env = append(env, childEnv+"="+string(b))
	}
	c.sync()
	x := c.cmd
	x.Env = env
	if x.SysProcAttr == nil {
		x.SysProcAttr = parentDeathSignal()
	}

	var logF *os.File
	if rs.logDir != "" && (x.Stdout == nil || x.Stderr == nil) {
		// The name needs the pid, known only once started: open under a
		// temporary name, rename after.
		tmp := filepath.Join(rs.logDir, ".child-"+randomSuffix()+".log")
		var err error
		if logF, err = os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_APPEND, logPerm(rs.logDir)); err != nil {
			return fmt.Errorf("child log: %w", err)
		}
		defer logF.Close()
		if x.Stdout == nil {
			x.Stdout = logF
		}
		if x.Stderr == nil {
			x.Stderr = logF
		}
	}
	if err := x.Start(); err != nil {
		if logF != nil {
			os.Remove(logF.Name())
		}
		return err
	}
	c.Process = x.Process
	if logF != nil {
		name := fmt.Sprintf("pid-%d.log", c.Process.Pid)
		if err := os.Rename(logF.Name(), filepath.Join(rs.logDir, name)); err != nil {
			c.t.logger.Warn("child log not renamed", "error", err)
		} else {
			c.LogFile = runRel(rs.logDir, name)
			rs.emit.emit(report.Event{Kind: report.KindLog, Parent: c.t.node.id, Name: c.LogFile, PID: c.Process.Pid})
		}
	}
	c.t.logger.Info(fmt.Sprintf("started %s (pid %d)", c.Path, c.Process.Pid), "log", c.LogFile)
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
	var b syncWriter
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

// syncWriter is a buffer that stdout and stderr may write at once.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) Bytes() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Bytes()
}

func withoutEnv(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RunChild is the main of a program that a task starts with T.Command: fn
// runs as part of that task, and its steps appear in the task's result
// tree under the step that started this process; its log goes to the
// process's own log file. Started any other way, fn runs on its own and
// its result tree is printed. RunChild does not return: the process exits
// with 0 when fn's result is Passed, Passx or Skipped, and 1 otherwise.
func RunChild(fn func(t *T)) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runChild(ctx, progName(), fn, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runChild(ctx context.Context, name string, fn func(t *T), stdout, stderr io.Writer) int {
	rs, logger, done, err := attach(name, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if rs == nil {
		em := newMemEmitter()
		rs = &runState{taskID: name, emit: em, pid: os.Getpid()}
		r, reason := runTask(ctx, rs, logger, fn)
		report.WriteText(stdout, name, r, reason, em.tree.Sections)
		return exitCode(r)
	}
	r, _ := runTask(ctx, rs, logger, fn)
	if err := done(); err != nil {
		fmt.Fprintf(stderr, "%s: not every result event was stored by the hub: %v\n", name, err)
		return 1
	}
	return exitCode(r)
}

func exitCode(r Result) int {
	if r.Success() {
		return 0
	}
	return 1
}

// attach joins the task that started this process, if one did: it returns
// the run state and logger to report with, and done, which sends every
// event and closes the connection. It returns a nil run state and a logger
// to stderr when no task started this process.
func attach(name string, stderr io.Writer) (rs *runState, logger hclog.Logger, done func() error, err error) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return nil, hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Trace, Output: stderr}), func() error { return nil }, nil
	}
	var ci childInfo
	if err := json.Unmarshal([]byte(raw), &ci); err != nil {
		return nil, nil, nil, fmt.Errorf("%s is not valid: %w", childEnv, err)
	}
	pid := os.Getpid()
	src := "pid-" + strconv.Itoa(pid)
	hub := &packv1.Hub{Url: ci.URL, Token: ci.Token, EventsSubject: ci.Subject, InboxPrefix: ci.InboxPrefix,
		MsgIdPrefix: ci.MsgIDPrefix, StateSocket: ci.StateSocket}
	em, err := dialHub(hub, fmt.Sprintf("task %s child (pid %d)", ci.TaskID, pid), src)
	if err != nil {
		return nil, nil, nil, err
	}
	var lf *logFile
	var out io.Writer = stderr
	if ci.LogDir != "" {
		if lf, err = openLog(ci.LogDir, src+".log"); err == nil {
			out = lf
		}
	}
	logger = hclog.New(&hclog.LoggerOptions{Name: ci.TaskID, Level: hclog.Trace, Output: out}).With("pid", pid)
	em.setOnRefused(refusedLogger(logger))
	rs = &runState{
		taskID: ci.TaskID, emit: em, pid: pid, log: lf, hub: hub, logDir: ci.LogDir, conn: em.nc,
		root: ci.Parent + "/" + strconv.Itoa(pid), parent: ci.Parent,
	}
	done = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := em.flush(ctx)
		if err != nil && !refused(err) { // said when it happened
			logger.Error("not every result event reached the hub", "error", err)
		}
		em.close()
		if lf != nil {
			lf.Close()
		}
		return err
	}
	return rs, logger, done, nil
}
