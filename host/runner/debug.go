package runner

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
)

// Debugging says which task, if any, runs under a debugger and which
// talks to the terminal. The other tasks run as usual.
type Debugging struct {
	// Debug is the id of a task whose pack starts under Delve in headless
	// mode, stopped before its main, and waits for a debugger to attach
	// and continue it (docs/debugging.md). The task has no timeout.
	Debug string
	// Dlv is the Delve binary; "" finds dlv on PATH.
	Dlv string
	// Notices receives how to attach the debugger; nil means Options.Out.
	Notices io.Writer

	// Interactive is the id of a task whose os.Stdin and os.Stdout are
	// the terminal: Stdin and Stdout below.
	Interactive string
	// Stdin and Stdout are the interactive task's; nil means the host's.
	Stdin, Stdout *os.File
}

// DebugStartTimeout is how long a pack under the debugger may take to
// start serving: the user has to attach and continue it first. The job's
// timeout and an interrupt still end the wait.
const DebugStartTimeout = 24 * time.Hour

// ErrNoDelve is returned by FindDelve when Delve is not installed.
var ErrNoDelve = errors.New("--debug needs Delve (dlv): install it with `go install github.com/go-delve/delve/cmd/dlv@latest`, or give its path with --dlv")

// FindDelve returns the path of the Delve binary: path if given, else dlv
// on PATH or in $GOPATH/bin.
func FindDelve(path string) (string, error) {
	if path != "" {
		if _, err := exec.LookPath(path); err != nil {
			return "", fmt.Errorf("%w (%v)", ErrNoDelve, err)
		}
		return path, nil
	}
	if p, err := exec.LookPath("dlv"); err == nil {
		return p, nil
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := strings.TrimSpace(string(gp)) + "/bin/dlv"
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return "", ErrNoDelve
}

// packConfig is how a task or hook of pack p starts it, out receiving
// what the pack writes.
func (r *execution) packConfig(p *jobfile.Pack, out io.Writer) launch.Config {
	return launch.Config{Path: p.Path, Environ: packEnviron(), Stderr: out, Output: out, SocketDir: r.sockets, SHA256: p.SHA256,
		StartTimeout: p.StartTimeout, Supervisor: r.sup}
}

// launchConfig is how attempt starts the pack of task t: as usual, under
// Delve for the task being debugged, or with the terminal for the
// interactive one. done must be called once Start has returned.
func (r *execution) launchConfig(t *jobfile.Task, out io.Writer) (cfg launch.Config, done func(), err error) {
	cfg = r.packConfig(r.plan.Job.Pack(t.Pack), out)
	d := r.opts.Debugging
	switch t.ID {
	case d.Interactive:
		return r.interactiveConfig(cfg)
	case d.Debug:
		return r.debugConfig(t, cfg)
	}
	return cfg, func() {}, nil
}

// interactiveConfig gives the pack two pipes as fds 3 and 4, which the
// SDK makes the task's os.Stdin and os.Stdout when the request says
// interactive, and copies the terminal's input into the one and the
// other's output to the terminal. The host copies rather than hand the
// pack the terminal itself because the pack runs in a process group of
// its own, which the terminal would stop (SIGTTIN) when it reads; this
// way Ctrl-C also still reaches the host, which stops the run as usual.
func (r *execution) interactiveConfig(cfg launch.Config) (launch.Config, func(), error) {
	d := r.opts.Debugging
	in, out := d.Stdin, d.Stdout
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return cfg, func() {}, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return cfg, func() {}, err
	}
	cfg.Command = func(path string) *exec.Cmd {
		cmd := exec.Command(path)
		cmd.ExtraFiles = []*os.File{inR, outW}
		return cmd
	}
	go func() {
		// Ends when the terminal does, or at the first input after the
		// task's end (the pipe is broken then).
		_, _ = io.Copy(inW, in)
		inW.Close()
	}()
	go func() {
		_, _ = io.Copy(lockedWriter{&r.outM, out}, outR)
		outR.Close()
	}()
	return cfg, func() { inR.Close(); outW.Close() }, nil
}

// lockedWriter writes to w holding mu, so that the task's output and the
// run's progress lines do not mix within a line.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// debugConfig starts the pack under `dlv exec --headless`. Delve writes
// only its listening address, to fd 3 (--log-dest), so the pack's
// handshake is the only line on stdout, as go-plugin needs; the address
// is read from that pipe and the user told how to attach.
func (r *execution) debugConfig(t *jobfile.Task, cfg launch.Config) (launch.Config, func(), error) {
	d := r.opts.Debugging
	dlv, err := FindDelve(d.Dlv)
	if err != nil {
		return cfg, func() {}, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return cfg, func() {}, err
	}
	cfg.StartTimeout = DebugStartTimeout
	cfg.Command = func(path string) *exec.Cmd {
		cmd := exec.Command(dlv, "exec", "--headless", "--listen=127.0.0.1:0", "--accept-multiclient",
			"--api-version=2", "--log-dest=3", path)
		cmd.ExtraFiles = []*os.File{pw}
		return cmd
	}
	notices := d.Notices
	if notices == nil {
		notices = r.out
	}
	fn := r.taskFunc(t)
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			addr, ok := strings.CutPrefix(sc.Text(), "API server listening at: ")
			if !ok {
				continue
			}
			r.log.Info("task waits for a debugger", "task", t.ID, "address", addr)
			r.outM.Lock()
			writeAttach(notices, t.ID, addr, fn)
			r.outM.Unlock()
		}
	}()
	return cfg, func() { pw.Close() }, nil
}

// taskFunc is the Go function of task t in its pack, if the pack says.
func (r *execution) taskFunc(t *jobfile.Task) string {
	if ts := r.plan.Packs[t.Pack].Task(t.Task); ts != nil {
		return ts.FuncName
	}
	return ""
}

// writeAttach tells the user exactly how to attach to the task's pack.
func writeAttach(w io.Writer, task, addr, fn string) {
	host, port, _ := strings.Cut(addr, ":")
	brk := fn
	if brk == "" {
		brk = "main.YourTask"
	}
	fmt.Fprintf(w, `
Task %[1]s is waiting for a debugger: its pack runs under Delve, stopped before main.
Attach from a terminal with:

    dlv connect %[2]s

then, at the (dlv) prompt, stop in the task and let the pack run:

    break %[3]s
    continue

Or attach from VS Code with this configuration in .vscode/launch.json:

    {"name": "taskhost: %[1]s", "type": "go", "request": "attach", "mode": "remote", "host": %[4]q, "port": %[5]s}

The other tasks run meanwhile; this one starts when the pack runs on.
`, task, addr, brk, host, port)
}
