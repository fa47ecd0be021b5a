package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskhost/taskhost/internal/packwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
)

// Config says how to start a pack. Zero values of the optional fields are
// fine.
type Config struct {
	// Path of the pack binary; required.
	Path string
	// Environ is the pack process's environment; nil is HostEnviron():
	// the host's, without the jobfile variables' values.
	Environ []string
	// Env is added to Environ for the pack process.
	Env []string
	// Logger receives go-plugin's messages about the process; nil
	// discards them.
	Logger hclog.Logger
	// Stderr receives what the pack writes to its standard error (fd 2),
	// line by line; nil discards it.
	Stderr io.Writer
	// Output receives what the pack writes to its os.Stdout and os.Stderr
	// once it serves; nil discards it.
	Output io.Writer
	// StartTimeout bounds the start, from the exec to the end of the
	// plugin handshake; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
	// SocketDir is where a directory of the pack's own, that only this
	// user can enter (0700), is made for its socket, and removed once the
	// pack is gone; "" is the system's temporary directory.
	SocketDir string
	// SHA256 is the hash the binary must have (a pinned pack); Start
	// checks it before each start, and fails with ErrChecksumMismatch
	// when it differs. nil starts the binary unchecked.
	SHA256 []byte
	// Command makes the command that starts the pack at path, e.g. under
	// a debugger; nil means the pack itself. Start still sets its
	// environment, standard files and process group.
	Command func(path string) *exec.Cmd
	// Supervisor, if set, keeps every process of the pack, its
	// descendants included, so that ending the pack kills them all (see
	// Supervisor); nil leaves the pack its process group only.
	Supervisor *Supervisor
}

// DefaultStartTimeout is how long a pack may take to start serving when
// Config.StartTimeout is not set (a pack block's start_timeout).
const DefaultStartTimeout = 30 * time.Second

// Process is a started pack.
type Process struct {
	client    *plugin.Client
	run       *procRunner
	pack      packv1.PackClient
	pid       int
	member    *member
	socketDir string // the launch's own, made by go-plugin
	cleanup   sync.Once
}

// ErrNotAPack is wrapped by Start when the binary ran but did not speak
// the pack protocol.
var ErrNotAPack = errors.New("not a taskhost pack")

// ErrStartTimeout is wrapped by Start when the pack did not serve within
// its start timeout.
var ErrStartTimeout = errors.New("the pack did not serve in time")

// Start starts the pack and completes the go-plugin handshake, within the
// start timeout. Cancelling ctx stops the start: the process is killed, and
// Start returns an error that wraps ctx's cause.
func Start(ctx context.Context, cfg Config) (*Process, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("pack %s not started: %w", cfg.Path, context.Cause(ctx))
	}
	if err := checkBinary(cfg.Path); err != nil {
		return nil, err
	}

	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	out := cfg.Output
	if out == nil {
		out = io.Discard
	}
	// A pinned binary is hashed before it starts, unless an earlier start
	// hashed it and it has not changed since (secure.go).
	if cfg.SHA256 != nil {
		if err := Verify(cfg.Path, cfg.SHA256); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(cfg.Path)
	if cfg.Command != nil {
		cmd = cfg.Command(cfg.Path)
	}
	cmd.Env = cfg.environ()
	// Its own process group, so that the group can be killed with all the
	// pack's children; and SIGTERM from the kernel if the host dies, on
	// which the SDK kills that group. Standard input is /dev/null: the
	// pack is not in the terminal's foreground group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Stdin = nil
	m := cfg.Supervisor.member()
	if m != nil {
		cmd.Env = append(cmd.Env, m.marker)
	}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = DefaultStartTimeout
	}
	p := &Process{run: newProcRunner(cmd, m, cfg.Path), member: m}
	p.client = plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: protocol.PluginSets(nil),
		// go-plugin makes a directory of the launch's own (0700) in
		// UnixSocketConfig.TempDir, names it to the pack in
		// PLUGIN_UNIX_SOCKET_DIR, and removes it once the pack is reaped;
		// it does so only for a RunnerFunc.
		RunnerFunc: func(_ hclog.Logger, spec *exec.Cmd, socketDir string) (runner.Runner, error) {
			p.socketDir = socketDir
			cmd.Env = append(cmd.Env, spec.Env...)
			return p.run, nil
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// Plain gRPC on a Unix socket in a directory of the user's own
		// (docs/design.md says why that needs no TLS).
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: cfg.SocketDir},
		SkipHostEnv:      true, // cmd.Env has it already
		Logger:           logger,
		Stderr:           cfg.Stderr,
		SyncStdout:       out,
		SyncStderr:       out,
		// The start limit is startCtx's; go-plugin's own is a backstop.
		StartTimeout: timeout + time.Minute,
	})
	startCtx, cancel := context.WithTimeoutCause(ctx, timeout, ErrStartTimeout)
	defer cancel()
	stop := context.AfterFunc(startCtx, p.run.abort)
	rpc, err := p.client.Client()
	if !stop() && err == nil {
		err = errAborted // stopped as it finished starting
	}
	p.pid = p.run.pid
	if v := p.run.handshake.tlsVersion(); v != "" {
		p.Kill()
		return nil, errOverTLS(cfg.Path, v)
	}
	if err != nil {
		p.Kill()
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("pack %s not started: %w", cfg.Path, context.Cause(ctx))
		case startCtx.Err() != nil:
			return nil, fmt.Errorf("%w: %s did not serve within %s (the pack's start_timeout): is it a taskhost pack whose main calls Set.Run, or does it need longer to start?", ErrStartTimeout, cfg.Path, timeout)
		}
		return nil, fmt.Errorf("%w: %s: %s", ErrNotAPack, cfg.Path, p.startHint(err))
	}
	raw, err := rpc.Dispense(protocol.PluginName)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w: %s: %v", ErrNotAPack, cfg.Path, err)
	}
	p.pack = raw.(packv1.PackClient)
	return p, nil
}

func checkBinary(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("pack binary %s does not exist: build it or fix the pack's path", path)
	case err != nil:
		return fmt.Errorf("pack binary: %w", err)
	case st.IsDir():
		return fmt.Errorf("pack binary %s is a directory, not a program", path)
	case st.Mode()&0o111 == 0:
		return fmt.Errorf("pack binary %s is not executable: chmod +x it", path)
	}
	return nil
}

// startHint turns go-plugin's handshake errors into one line that says
// what to fix.
func (p *Process) startHint(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	lower := strings.ToLower(msg)
	// A pack that exited before it wrote anything: say how it ended.
	if strings.TrimSpace(msg) == "Unrecognized remote plugin message:" || strings.Contains(lower, "exited before we could connect") {
		if how, ok := p.WaitExit(time.Second); ok {
			return "it " + how + " during start-up: is it a taskhost pack whose main calls Set.Run?"
		}
	}
	switch {
	case strings.Contains(lower, "incompatible api version"):
		msg = sortedClientVersions(msg)
		return msg + fmt.Sprintf(" (the pack speaks pack protocol %s, this taskhost speaks %v: rebuild the pack with an SDK that speaks one of them, or use a taskhost that speaks the pack's)", packVersion(msg), protocol.Versions)
	case strings.Contains(lower, "unrecognized remote plugin message"):
		return msg + " (the pack wrote that to stdout before serving, which breaks the plugin handshake: pack code must not print to stdout before Set.Run, and a program that is not a taskhost pack cannot be one)"
	case strings.Contains(lower, "exited before we could connect"):
		return msg + " (it exited during start-up: is it a taskhost pack whose main calls Set.Run?)"
	}
	return msg
}

// Exited reports whether the pack process has ended and been reaped.
func (p *Process) Exited() bool { return p.run.exited() }

// sortedClientVersions writes the host's versions in go-plugin's
// "Plugin version: 99, Client versions: [2 1]" in order: go-plugin lists
// them in the random order of a map. They are protocol.Versions.
func sortedClientVersions(msg string) string {
	const key = "Client versions: ["
	before, rest, ok := strings.Cut(msg, key)
	if !ok {
		return msg
	}
	_, after, ok := strings.Cut(rest, "]")
	if !ok {
		return msg
	}
	return before + key[:len(key)-1] + fmt.Sprint(protocol.Versions) + after
}

// packVersion picks the pack's protocol version out of go-plugin's
// "Plugin version: 99, Client versions: [1]".
func packVersion(msg string) string {
	_, v, ok := strings.Cut(msg, "Plugin version: ")
	if !ok {
		return "another version"
	}
	v, _, _ = strings.Cut(v, ",")
	return v
}

// PID is the pack process's id.
func (p *Process) PID() int { return p.pid }

// Describe asks the pack what it is. A description the host cannot read
// is a *packwire.DescriptionError.
func (p *Process) Describe(ctx context.Context) (*packwire.Description, error) {
	w, err := p.pack.Describe(ctx, &packv1.DescribeRequest{})
	if err != nil {
		return nil, err
	}
	return packwire.FromDescribe(w)
}

// DescribeTimeout bounds Describe's call once the pack serves.
const DescribeTimeout = 30 * time.Second

// Describe starts the pack as cfg says, asks it what it is (within
// DescribeTimeout), and stops it. An error of the start is returned as
// Start returns it; a pack that serves but does not describe itself, or
// describes itself in a way the host cannot read, is ErrNotAPack (the
// latter wraps a *packwire.DescriptionError too).
func Describe(ctx context.Context, cfg Config) (*packwire.Description, error) {
	proc, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer proc.Stop()
	ctx, cancel := context.WithTimeout(ctx, DescribeTimeout)
	defer cancel()
	d, err := proc.Describe(ctx)
	if err != nil {
		if status.Code(err) == codes.Unavailable && proc.servesTLS() {
			return nil, errNotPlain(cfg.Path, proc.ProtocolVersion())
		}
		return nil, fmt.Errorf("%w: %s: describe: %w", ErrNotAPack, cfg.Path, err)
	}
	return d, nil
}

// ProtocolVersion is the pack protocol version the host and the pack
// agreed on at the start: the highest both speak (protocol.Versions).
func (p *Process) ProtocolVersion() int { return p.client.NegotiatedVersion() }

// ErrHubTLSUnsupported is wrapped by Run when the call's hub is reached
// over TLS (Hub.tls_ca_pem) and the pack speaks a protocol version
// older than protocol.HubTLSVersion: it would ignore the CA, and fail to
// reach the hub in a way that says nothing of why.
var ErrHubTLSUnsupported = errors.New("the pack's SDK cannot reach a hub over TLS")

// Run runs one task in the pack. Cancelling ctx cancels the task's context
// in the pack; the call then returns at once, while the pack may still be
// finishing. A call whose hub is reached over TLS fails with
// ErrHubTLSUnsupported, before it reaches the pack, when the pack speaks
// a protocol too old for it.
func (p *Process) Run(ctx context.Context, req *packv1.RunRequest) (*packv1.RunResponse, error) {
	if req.GetHub().GetTlsCaPem() != "" {
		if v := p.ProtocolVersion(); v < protocol.HubTLSVersion {
			return nil, fmt.Errorf("%w: it speaks pack protocol %d, and a hub over TLS needs %d: rebuild the pack with this taskhost's SDK", ErrHubTLSUnsupported, v, protocol.HubTLSVersion)
		}
	}
	return p.pack.Run(ctx, req)
}

// WaitExit waits up to d for the pack process to end by itself and says
// how it ended ("exited with status 3", "killed by SIGKILL"); ok is false
// if it is still running. The host reaps the process as soon as it exits,
// whatever its descendants hold open.
func (p *Process) WaitExit(d time.Duration) (how string, ok bool) {
	if !p.run.started() {
		return "", false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.run.done:
		return describeState(p.run.processState()), true
	case <-t.C:
		return "", false
	}
}

func describeState(ps *os.ProcessState) string {
	if ps == nil {
		return "ended"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exited with status %d", ps.ExitCode())
}

// Kill ends the pack and every process it started at once, and waits
// until they are gone and the pack is reaped (a few seconds at most: the
// pack's pipes are not waited for once it has exited).
func (p *Process) Kill() {
	p.KillNow()
	p.client.Kill()
	p.finish()
}

// KillNow kills the pack's process group, and its cgroup if it has one,
// and returns; Kill (or Stop) must still be called to reap it, and to kill
// what only the marker finds, which may take a moment.
func (p *Process) KillNow() {
	p.run.killGroup()
}

// Stop ends the pack gracefully when it is idle (after a task returned):
// go-plugin's shutdown, then everything it started is killed.
func (p *Process) Stop() {
	p.client.Kill()
	p.KillNow()
	p.finish()
}

// finish kills what is left of the launch, removes its cgroup, and its
// socket directory (go-plugin removes it only for a process it started).
func (p *Process) finish() {
	p.cleanup.Do(func() {
		p.member.finish(p.pid)
		if p.socketDir != "" {
			_ = os.RemoveAll(p.socketDir)
		}
	})
}
