package packserver

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol/wire"
	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/logfile"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
	"github.com/taskhost/taskhost/sdk/result"
)

// handshakeOut is the real stdout of a pack started by a host: the
// go-plugin handshake line goes there, and nothing else may (a stray line breaks it), so
// until Serve serves, os.Stdout is stderr, which the host keeps in the
// task's log.
var handshakeOut *os.File

func init() {
	if wire.Started(os.Getenv) {
		handshakeOut, os.Stdout = os.Stdout, os.Stderr
	}
}

// Started says whether a host started this process as a plugin.
func Started() bool { return wire.Started(os.Getenv) }

// Serve serves p to the host that started this process, and returns when
// the host is done with it.
func Serve(p pack.Pack) {
	// hclog writes JSON lines to the real stderr, which the host reads and
	// writes to the task's log file with their levels. os.Stderr becomes
	// the stdio stream's pipe while serving, so take it first.
	// Until a task runs, this process's log is its stderr, which the host
	// copies into the task's log; then fd 2 becomes that log file itself.
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: os.Stderr})
	cleanup, err := privateSocketDir()
	if err != nil {
		logger.Error("not serving: " + err.Error())
		os.Exit(1)
	}
	socketCleanup = cleanup
	defer cleanup()
	go watchParent(logger)
	// The host hands the pack its standard input, often the
	// user's terminal, which a pack in a process group of its own must
	// not read (the terminal would stop it). A task reads end of file
	// there; one started with --interactive gets the terminal through
	// the host instead.
	nullStdin()
	out := io.Writer(os.Stdout)
	if handshakeOut != nil {
		out = handshakeOut
	}
	// go-plugin's handshake and services, served without go-plugin
	// (plugin.go).
	servePlugin(&server{pack: p, logger: logger}, out, logger)
}

// watchParent ends this process, with every process of its group, when
// the host that started it dies: the host asks the kernel to send SIGTERM
// then (a parent-death signal), and in case that did not happen the
// parent pid is checked twice a second.
func watchParent(logger hclog.Logger) {
	ppid := os.Getppid()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	tick := time.NewTicker(500 * time.Millisecond)
	for {
		select {
		case <-sigs:
			stopGroup(logger, "SIGTERM (the host died or was told to stop)")
		case <-tick.C:
			if os.Getppid() != ppid {
				stopGroup(logger, "the host went away")
			}
		}
	}
}

// socketDirEnv names the directory the pack makes its socket in.
const socketDirEnv = "PLUGIN_UNIX_SOCKET_DIR"

// socketCleanup removes the socket directory the pack made for itself, if
// it made one.
var socketCleanup = func() {}

// privateSocketDir makes sure that the pack makes its socket in a
// directory only this user can enter: anyone who can connect to the
// socket can run the pack's tasks, as this user. A taskhost host names
// such a directory, of the launch's own, in PLUGIN_UNIX_SOCKET_DIR, and
// removes it once the pack is gone. Without one (another host, or one
// naming a directory others can enter, such as /tmp), the pack makes a
// directory of its own (mode 0700) in the one named, or in the temporary
// directory, and removes it when it stops; a pack killed with SIGKILL
// leaves it behind.
func privateSocketDir() (cleanup func(), err error) {
	dir := os.Getenv(socketDirEnv)
	if dir != "" && privateDir(dir) {
		return func() {}, nil
	}
	made, err := os.MkdirTemp(dir, "taskhost-pack-")
	if err != nil {
		return nil, fmt.Errorf("cannot make a private directory for the pack's socket: %w", err)
	}
	if err := os.Setenv(socketDirEnv, made); err != nil {
		os.Remove(made)
		return nil, err
	}
	return func() { os.RemoveAll(made) }, nil
}

// privateDir says whether dir is a directory of this user's that no one
// else may enter.
func privateDir(dir string) bool {
	st, err := os.Lstat(dir)
	if err != nil || !st.IsDir() || st.Mode().Perm()&0o077 != 0 {
		return false
	}
	return ownedByMe(st)
}

// stopGroup kills this pack's process group (the host made the pack its
// leader, and the task's children are in it) and exits.
func stopGroup(logger hclog.Logger, why string) {
	logger.Error("stopping the task and every process it started: " + why)
	socketCleanup()
	killGroup()
	os.Exit(3)
}

// server is the pack service of one pack process.
type server struct {
	packv1.UnimplementedPackServer
	pack   pack.Pack
	logger hclog.Logger
}

// New returns the pack service of p, logging the calls it runs to logger.
func New(p pack.Pack, logger hclog.Logger) packv1.PackServer {
	return &server{pack: p, logger: logger}
}

func (sv *server) Describe(context.Context, *packv1.DescribeRequest) (*packv1.DescribeResponse, error) {
	return describeToWire(sv.pack.Describe(), sv.pack.FuncName), nil
}

func (sv *server) Run(ctx context.Context, req *packv1.RunRequest) (*packv1.RunResponse, error) {
	call := pack.Call{Task: req.GetTask(), ArgsJSON: req.GetArgsJson()}
	if hc := req.GetHook(); hc != nil {
		call.Hook = &pack.HookCall{Name: hc.GetName(), Stage: result.Stage(hc.GetStage()), TaskID: hc.GetTaskId(), ResultsJSON: hc.GetResultsJson()}
	}
	run, err := sv.pack.Callee(call)
	if err != nil {
		return nil, err
	}
	// Processes this task starts are not plugins.
	os.Unsetenv(wire.CookieKey)

	logger := sv.logger.Named(req.GetTaskId())
	// What the task reports and logs through the SDK shows none of the
	// values the host marked sensitive.
	m := mask.New(req.GetSensitive()...)
	var lf *logfile.File
	if dir := req.GetLogDir(); dir != "" {
		var err error
		if lf, err = logfile.Open(dir, "task.log"); err != nil {
			return nil, fmt.Errorf("open the task's log: %w", err)
		}
		defer lf.Close()
		lf.Mask = m
		// What the runtime writes on a crash goes to fd 2, and stray
		// prints to os.Stdout and os.Stderr: make all of them the log file,
		// so that they land in order, and even if the host is gone.
		out := stderrTo(lf)
		os.Stdout, os.Stderr = out, out
		logger = hclog.New(&hclog.LoggerOptions{Name: req.GetTaskId(), Level: hclog.Trace, Output: lf})
	}
	if req.GetInteractive() {
		defer useTerminal()()
	}
	em, err := emit.Dial(req.GetHub(), fmt.Sprintf("task %s (pid %d)", req.GetTaskId(), os.Getpid()), "")
	if err != nil {
		return nil, err
	}
	defer em.Close()
	em.SetOnRefused(emit.RefusedLogger(logger))
	env := &taskenv.Env{TaskID: req.GetTaskId(), Emit: emit.WithMask(em, m), PID: os.Getpid(), Log: lf, Hub: req.GetHub(), LogDir: req.GetLogDir()}
	if call.Hook == nil {
		// A task's outputs; a hook has none.
		d := sv.pack.Describe()
		env.Outputs = taskenv.NewOutputs(d.OutputNames(call.Task))
	}
	r, reason := run(ctx, env, logger)

	// The events must reach the hub even when ctx is already cancelled:
	// they are the record of what the task did. Give them a while.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	last, err := em.Flush(fctx)
	if err != nil {
		// The record lacks what the hub did not store: the task is
		// Errored, and says why (its log may not be writable either: the
		// reason is what reaches the host). last is then the last event
		// stored, so that the host does not wait for the others.
		if !emit.Refused(err) { // said when it happened
			logger.Error("not every result event reached the hub", "error", err)
		}
		r = result.Rollup(r, result.Errored)
		why := "not every result event was stored by the hub: " + err.Error()
		if reason != "" {
			why += "; " + reason
		}
		reason = why
	}
	return &packv1.RunResponse{Result: r.String(), Reason: m.String(reason), LastSeq: last, Outputs: env.Outputs.Snapshot()}, nil
}
