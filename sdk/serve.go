package sdk

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// handshakeOut is the real stdout of a pack started by a host: go-plugin's
// handshake goes there, and nothing else may (a stray line breaks it), so
// until Set.Run serves, os.Stdout is stderr, which the host keeps in the
// task's log.
var handshakeOut *os.File

func init() {
	if protocol.Started(os.Getenv) {
		handshakeOut, os.Stdout = os.Stdout, os.Stderr
	}
}

// Run is the pack's main: started by a host, it serves the pack over
// go-plugin; started by hand, it is a small command line:
//
//	PACK describe                      print the pack's description as JSON
//	PACK run TASK [--arg key=value]…   run one task here and print its result tree
//
// Run does not return.
func (s *Set) Run() {
	if protocol.Started(os.Getenv) {
		s.serve()
		os.Exit(0)
	}
	os.Exit(s.cli(os.Args[1:], os.Stdout, os.Stderr))
}

// serve serves the pack to the host that started this process.
func (s *Set) serve() {
	// hclog writes JSON lines to the real stderr, which the host reads and
	// writes to the task's log file with their levels. go-plugin replaces
	// os.Stderr while serving, so take it first.
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
	// go-plugin hands the pack the host's standard input, often the
	// user's terminal, which a pack in a process group of its own must
	// not read (the terminal would stop it). A task reads end of file
	// there; one started with --interactive gets the terminal through
	// the host instead.
	if null, err := os.Open(os.DevNull); err == nil {
		_ = syscall.Dup2(int(null.Fd()), 0)
		null.Close()
	}
	if handshakeOut != nil {
		os.Stdout = handshakeOut
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: protocol.PluginSets(&server{set: s, logger: logger}),
		GRPCServer:       plugin.DefaultGRPCServer,
		// go-plugin's own chatter is of no use in a task's log.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr, JSONFormat: true}),
	})
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

// socketDirEnv names the directory go-plugin makes the pack's socket in.
const socketDirEnv = "PLUGIN_UNIX_SOCKET_DIR"

// socketCleanup removes the socket directory the pack made for itself, if
// it made one.
var socketCleanup = func() {}

// privateSocketDir makes sure that go-plugin makes the pack's socket in a
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
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid()
}

// stopGroup kills this pack's process group (the host made the pack its
// leader, and the task's children are in it) and exits.
func stopGroup(logger hclog.Logger, why string) {
	logger.Error("stopping the task and every process it started: " + why)
	socketCleanup()
	if syscall.Getpgrp() == os.Getpid() {
		_ = syscall.Kill(-os.Getpid(), syscall.SIGKILL) // this process too
	}
	os.Exit(3)
}

type server struct {
	packv1.UnimplementedPackServer
	set    *Set
	logger hclog.Logger
}

func (sv *server) Describe(context.Context, *packv1.DescribeRequest) (*packv1.DescribeResponse, error) {
	d := sv.set.Describe()
	out := &packv1.DescribeResponse{Name: d.Name, Version: d.Version, SdkVersion: d.SDKVersion}
	for _, v := range d.ProtocolVersions {
		out.ProtocolVersions = append(out.ProtocolVersions, int32(v))
	}
	for _, t := range d.Tasks {
		ts := &packv1.TaskSpec{Name: t.Name, Doc: t.Doc, FuncName: sv.set.task(t.Name).fnName}
		for _, a := range t.Args {
			ts.Args = append(ts.Args, &packv1.ArgSpec{Name: a.Name, TypeJson: a.Type, Doc: a.Doc, Required: a.Required})
		}
		for _, o := range t.Outputs {
			ts.Outputs = append(ts.Outputs, &packv1.OutputSpec{Name: o.Name, Doc: o.Doc})
		}
		out.Tasks = append(out.Tasks, ts)
	}
	out.Hooks = hookSpecs(d.Hooks)
	return out, nil
}

func (sv *server) Run(ctx context.Context, req *packv1.RunRequest) (*packv1.RunResponse, error) {
	run, err := sv.set.callee(req)
	if err != nil {
		return nil, err
	}
	// Processes this task starts are not plugins.
	os.Unsetenv(protocol.Handshake.MagicCookieKey)

	logger := sv.logger.Named(req.GetTaskId())
	// What the task reports and logs through the SDK shows none of the
	// values the host marked sensitive.
	m := mask.New(req.GetSensitive()...)
	var lf *logFile
	if dir := req.GetLogDir(); dir != "" {
		var err error
		if lf, err = openLog(dir, "task.log"); err != nil {
			return nil, fmt.Errorf("open the task's log: %w", err)
		}
		defer lf.Close()
		lf.mask = m
		// What the runtime writes on a crash goes to fd 2, and stray
		// prints to os.Stdout and os.Stderr: make all of them the log file,
		// so that they land in order, and even if the host is gone.
		_ = syscall.Dup2(int(lf.f.Fd()), 2)
		out := os.NewFile(2, "task.log")
		os.Stdout, os.Stderr = out, out
		logger = hclog.New(&hclog.LoggerOptions{Name: req.GetTaskId(), Level: hclog.Trace, Output: lf})
	}
	if req.GetInteractive() {
		defer useTerminal()()
	}
	em, err := dialHub(req.GetHub(), fmt.Sprintf("task %s (pid %d)", req.GetTaskId(), os.Getpid()), "")
	if err != nil {
		return nil, err
	}
	defer em.close()
	em.setOnRefused(refusedLogger(logger))
	rs := &runState{taskID: req.GetTaskId(), emit: withMask(em, m), pid: os.Getpid(), log: lf, hub: req.GetHub(), logDir: req.GetLogDir(), conn: em.nc}
	if req.GetHook() == nil {
		// A task's outputs; a hook has none.
		rs.outputs = newOutputs(sv.set.task(req.GetTask()))
	}
	r, reason := run(ctx, rs, logger)

	// The events must reach the hub even when ctx is already cancelled:
	// they are the record of what the task did. Give them a while.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	last, err := em.flush(fctx)
	if err != nil {
		// The record lacks what the hub did not store: the task is
		// Errored, and says why (its log may not be writable either: the
		// reason is what reaches the host). last is then the last event
		// stored, so that the host does not wait for the others.
		if !refused(err) { // said when it happened
			logger.Error("not every result event reached the hub", "error", err)
		}
		r = result.Rollup(r, result.Errored)
		why := "not every result event was stored by the hub: " + err.Error()
		if reason != "" {
			why += "; " + reason
		}
		reason = why
	}
	return &packv1.RunResponse{Result: r.String(), Reason: m.String(reason), LastSeq: last, Outputs: rs.outputs.snapshot()}, nil
}

// cli is the command line of a pack started by hand.
func (s *Set) cli(args []string, stdout, stderr io.Writer) int {
	usage := func() {
		fmt.Fprintf(stderr, "%s %s: a taskhost task pack.\n\nUsage:\n  %s describe\n  %s run TASK [--json] [--arg key=value]...\n\nTasks:\n",
			s.name, s.version, progName(), progName())
		for _, t := range s.tasks {
			fmt.Fprintf(stderr, "  %-20s %s\n", t.name, firstLine(t.doc))
		}
		fmt.Fprintf(stderr, "\nA host runs this binary as a plugin; see `taskhost run`.\n")
	}
	if len(args) == 0 {
		usage()
		return 2
	}
	switch args[0] {
	case "describe":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s.Describe()); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case "run":
		return s.cliRun(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage()
		return 0
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n", args[0])
	usage()
	return 2
}

type argList []string

func (a *argList) String() string     { return strings.Join(*a, " ") }
func (a *argList) Set(v string) error { *a = append(*a, v); return nil }

func (s *Set) cliRun(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: run TASK [--json] [--arg key=value]...")
		return 2
	}
	td := s.task(args[0])
	if td == nil {
		fmt.Fprintf(stderr, "pack %s has no task %q (it has: %s)\n", s.name, args[0], s.taskNames())
		return 2
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var kv argList
	fs.Var(&kv, "arg", "an argument as key=value (repeatable); values of non-string arguments are JSON")
	asJSON := fs.Bool("json", false, "print the result tree as JSON")
	quiet := fs.Bool("q", false, "do not print the result tree (the exit code still tells)")
	eventsFile := fs.String("events", "", "also write each result event to this file, as a JSON line")
	logFile := fs.String("log", "", "log to this file instead of stderr")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	obj := map[string]json.RawMessage{}
	for _, a := range kv {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "--arg %q: want key=value\n", a)
			return 2
		}
		i := -1
		for j := range td.specs {
			if td.specs[j].Name == k {
				i = j
			}
		}
		if i < 0 {
			fmt.Fprintf(stderr, "task %s has no argument %q (it takes %s)\n", td.name, k, argNames(td.specs))
			return 2
		}
		raw, err := argFromText(td.specs[i], v)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		obj[k] = raw
	}
	argsJSON, _ := json.Marshal(obj)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rs, logger, done, err := attach(td.name, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if rs != nil {
		// Started by a task with T.Command: report as part of it.
		r, _ := td.run(ctx, argsJSON, rs, logger)
		if err := done(); err != nil {
			fmt.Fprintf(stderr, "%s: not every result event was stored by the hub: %v\n", td.name, err)
			return 1
		}
		return exitCode(r)
	}
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer f.Close()
		logger = hclog.New(&hclog.LoggerOptions{Name: td.name, Level: hclog.Trace, Output: f})
	}
	em := newMemEmitter()
	if *eventsFile != "" {
		f, err := os.Create(*eventsFile)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer f.Close()
		em.sink = bufio.NewWriter(f)
		defer em.sink.Flush()
	}
	rs = &runState{taskID: td.name, emit: em, pid: os.Getpid(), outputs: newOutputs(td)}
	r, reason := td.run(ctx, argsJSON, rs, logger)

	switch {
	case *quiet:
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Task     string            `json:"task"`
			Result   report.Outcome    `json:"result"`
			Outputs  map[string]rawOut `json:"outputs,omitempty"`
			Sections []*report.Node    `json:"sections"`
		}{td.name, report.Outcome{Value: r, Reason: reason}, rawOutputs(rs.outputs.snapshot()), em.tree.Sections})
	default:
		report.WriteText(stdout, td.name, r, reason, em.tree.Sections)
	}
	return exitCode(r)
}

func (s *Set) taskNames() string {
	names := make([]string, len(s.tasks))
	for i, t := range s.tasks {
		names[i] = t.name
	}
	return strings.Join(names, ", ")
}

func progName() string {
	if len(os.Args) > 0 {
		p := os.Args[0]
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			p = p[i+1:]
		}
		return p
	}
	return "pack"
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
