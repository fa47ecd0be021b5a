package launch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
)

// Config says how to start a pack. Zero values of the optional fields are
// fine.
type Config struct {
	// Path of the pack binary; required.
	Path string
	// Environ is the pack process's environment; nil is the host's.
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
	// StartTimeout bounds the handshake; 0 means 30 seconds.
	StartTimeout time.Duration
	// SocketDir is where a directory of the pack's own, that only this
	// user can enter (0700), is made for its socket; "" is the system's
	// temporary directory.
	SocketDir string
	// SHA256 is the hash the binary must have (a pinned pack); go-plugin
	// checks it before each start (its SecureConfig), and Start fails with
	// ErrChecksumMismatch when it differs. nil starts the binary unchecked.
	SHA256 []byte
	// Command makes the command that starts the pack at path, e.g. under
	// a debugger; nil means the pack itself. Start still sets its
	// environment and process group.
	Command func(path string) *exec.Cmd
}

// Process is a started pack.
type Process struct {
	client *plugin.Client
	cmd    *exec.Cmd
	pack   packv1.PackClient
	pid    int
}

// ErrNotAPack is wrapped by Start when the binary ran but did not speak
// the pack protocol.
var ErrNotAPack = errors.New("not a taskhost pack")

// Start starts the pack and completes the go-plugin handshake.
func Start(cfg Config) (*Process, error) {
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
	cmd := exec.Command(cfg.Path)
	if cfg.Command != nil {
		cmd = cfg.Command(cfg.Path)
	}
	cmd.Env = cfg.environ()
	// Its own process group, so that the group can be killed with all the
	// pack's children; and SIGTERM from the kernel if the host dies, on
	// which the SDK kills that group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	timeout := cfg.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	// A pinned binary is hashed by go-plugin before it starts, unless an
	// earlier start hashed it and it has not changed since (secure.go).
	secure := secureConfig(cfg.SHA256)
	var id fileID
	if secure != nil && cfg.Command != nil {
		// go-plugin would hash the command it starts (a debugger, say):
		// check the pack's binary here instead.
		if sum, err := FileSHA256(cfg.Path); err != nil || !bytes.Equal(sum, cfg.SHA256) {
			return nil, checksumError(cfg.Path, cfg.SHA256)
		}
		secure = nil
	}
	if secure != nil {
		if verifiedBefore(cfg.Path, cfg.SHA256) {
			secure = nil
		} else {
			id, _ = statID(cfg.Path)
			id.checkedAt = time.Now().UnixNano()
		}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: protocol.PluginSets(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// Plain gRPC on a Unix socket in a directory of the user's own
		// (docs/design.md says why that needs no TLS).
		UnixSocketConfig: &plugin.UnixSocketConfig{TempDir: cfg.SocketDir},
		SkipHostEnv:      true, // cmd.Env has it already
		Logger:           logger,
		Stderr:           cfg.Stderr,
		SyncStdout:       out,
		SyncStderr:       out,
		StartTimeout:     timeout,
		SecureConfig:     secure,
	})
	p := &Process{client: client, cmd: cmd}
	rpc, err := client.Client()
	if cmd.Process != nil {
		p.pid = cmd.Process.Pid
	}
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		p.Kill()
		return nil, checksumError(cfg.Path, cfg.SHA256)
	}
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w: %s: %s", ErrNotAPack, cfg.Path, startHint(err))
	}
	raw, err := rpc.Dispense(protocol.PluginName)
	if err != nil {
		p.Kill()
		return nil, fmt.Errorf("%w: %s: %v", ErrNotAPack, cfg.Path, err)
	}
	p.pack = raw.(packv1.PackClient)
	if secure != nil && id.ino != 0 {
		remember(cfg.Path, id, cfg.SHA256)
	}
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
func startHint(err error) string {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "incompatible api version"):
		return msg + fmt.Sprintf(" (the pack speaks pack protocol %s, this taskhost speaks %v: rebuild the pack with an SDK that speaks one of them, or use a taskhost that speaks the pack's)", packVersion(msg), protocol.Versions)
	case strings.Contains(lower, "unrecognized remote plugin message"):
		return msg + " (the pack wrote that to stdout before serving, which breaks the plugin handshake: pack code must not print to stdout before Set.Run, and a program that is not a taskhost pack cannot be one)"
	case strings.Contains(lower, "timeout"):
		return msg + " (it did not complete the plugin handshake: is it a taskhost pack whose main calls Set.Run?)"
	case strings.Contains(lower, "exited before we could connect"):
		return msg + " (it exited during start-up: is it a taskhost pack whose main calls Set.Run?)"
	}
	return msg
}

// Exited reports whether the pack process has ended and been reaped.
func (p *Process) Exited() bool { return p.client.Exited() }

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

// Describe asks the pack what it is.
func (p *Process) Describe(ctx context.Context) (*packv1.DescribeResponse, error) {
	return p.pack.Describe(ctx, &packv1.DescribeRequest{})
}

// Run runs one task in the pack. Cancelling ctx cancels the task's context
// in the pack; the call then returns at once, while the pack may still be
// finishing.
func (p *Process) Run(ctx context.Context, req *packv1.RunRequest) (*packv1.RunResponse, error) {
	return p.pack.Run(ctx, req)
}

// Cancelled reports whether err from Run says the call was cancelled or
// ran past its deadline (the caller's context may see it a moment later).
func Cancelled(err error) bool {
	c := status.Code(err)
	return c == codes.Canceled || c == codes.DeadlineExceeded
}

// WaitExit waits up to d for the pack process to end by itself and says
// how it ended ("exited with status 3", "killed by SIGKILL"); ok is false
// if it is still running.
func (p *Process) WaitExit(d time.Duration) (how string, ok bool) {
	deadline := time.Now().Add(d)
	for {
		// Peek without reaping: go-plugin reaps the process only once its
		// stdout and stderr are closed, which a child still holding them
		// can delay.
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err == nil && siginfoPid(&info) != 0 {
			return describeExit(&info), true
		}
		if p.client.Exited() {
			// Reaped already: the exec.Cmd has the status.
			return describeState(p.cmd.ProcessState), p.cmd.ProcessState != nil
		}
		if time.Now().After(deadline) {
			return "", false
		}
		time.Sleep(5 * time.Millisecond)
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

// Kill ends the pack and every process in its group at once, and waits
// until go-plugin has reaped the pack.
func (p *Process) Kill() {
	p.KillNow()
	p.client.Kill()
}

// KillNow kills the pack's process group and returns; Kill (or Stop) must
// still be called to reap it, which may take a moment.
func (p *Process) KillNow() {
	if p.pid > 0 {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}

// Stop ends the pack gracefully when it is idle (after a task returned):
// go-plugin's shutdown, then the group is killed to take any child left.
func (p *Process) Stop() {
	p.client.Kill()
	if p.pid > 0 {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}
