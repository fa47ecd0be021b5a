package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// procRunner is go-plugin's runner.Runner for a pack process. go-plugin's
// own (cmdrunner) reads the process's stdout and stderr until every holder
// of the pipes has closed them, and only then waits for the process, so a
// descendant that keeps the pack's stdout open holds up go-plugin's start
// error, Kill and the process's reaping for as long as it lives. This one
// waits for the process as soon as it exits, and ends both pipes then,
// after taking what is in them.
//
// It also records the process as an own child of the host (startChild),
// starts it in its launch's cgroup, and can be aborted before or while
// it starts.
type procRunner struct {
	cmd    *exec.Cmd
	member *member
	path   string

	stdout, stderr *outPipe
	handshake      *handshakeReader // stdout as go-plugin reads it

	mu      sync.Mutex
	pid     int
	aborted bool
	done    chan struct{} // closed once the process has exited and been reaped
	state   *os.ProcessState
	waitErr error
}

func newProcRunner(cmd *exec.Cmd, m *member, path string) *procRunner {
	return &procRunner{cmd: cmd, member: m, path: path, done: make(chan struct{})}
}

var errAborted = errors.New("the start was stopped")

// Start starts the process, in its launch's cgroup if it has one. Starting
// into the cgroup can fail where making the cgroup did not (no clone3, or
// no permission on the common ancestor cgroup): the process then starts
// without it, and so do later launches of the Supervisor.
func (r *procRunner) Start(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.aborted {
		return errAborted
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	r.cmd.Stdout, r.cmd.Stderr = outW, errW
	leaf := (*cgroupLeaf)(nil)
	if r.member != nil {
		leaf = r.member.leaf
	}
	if leaf != nil {
		leaf.apply(r.cmd.SysProcAttr)
	}
	err = startChild(r.cmd)
	if leaf != nil {
		leaf.started()
	}
	if err != nil && leaf != nil {
		// Try once more without the cgroup: if that works, the cgroup was
		// the trouble.
		first := err
		_ = leaf.remove(time.Now())
		r.member.leaf = nil
		r.cmd = cloneCmd(r.cmd)
		leaf.unapply(r.cmd.SysProcAttr)
		if err = startChild(r.cmd); err == nil {
			r.member.sup.cgroupFailed(fmt.Errorf("cannot start a process in its cgroup: %w", first))
		}
	}
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return err
	}
	r.pid = r.cmd.Process.Pid
	r.stdout, r.stderr = &outPipe{f: outR}, &outPipe{f: errR}
	go func() {
		err := r.cmd.Wait()
		childDone(r.pid)
		r.stdout.stop()
		r.stderr.stop()
		r.mu.Lock()
		r.state, r.waitErr = r.cmd.ProcessState, err
		r.mu.Unlock()
		close(r.done)
	}()
	return nil
}

// cloneCmd is a new, unstarted command like cmd, which failed to start.
func cloneCmd(cmd *exec.Cmd) *exec.Cmd {
	attr := *cmd.SysProcAttr
	return &exec.Cmd{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Dir: cmd.Dir,
		Stdin: cmd.Stdin, Stdout: cmd.Stdout, Stderr: cmd.Stderr,
		ExtraFiles: cmd.ExtraFiles, SysProcAttr: &attr}
}

// abort stops the start: a process not started yet will not be, and one
// started is killed with its group and cgroup.
func (r *procRunner) abort() {
	r.mu.Lock()
	r.aborted = true
	pid := r.pid
	r.mu.Unlock()
	if pid > 0 {
		r.killGroup()
	}
}

// killGroup kills the process's group and cgroup.
func (r *procRunner) killGroup() {
	r.mu.Lock()
	pid := r.pid
	r.mu.Unlock()
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	r.member.killNow()
}

// exited reports whether the process has exited and been reaped.
func (r *procRunner) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// started reports whether the process was started.
func (r *procRunner) started() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid > 0
}

// processState is how the process ended, once it has.
func (r *procRunner) processState() *os.ProcessState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

func (r *procRunner) Wait(context.Context) error {
	if !r.started() {
		return nil
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.waitErr
}

func (r *procRunner) Kill(context.Context) error {
	r.killGroup()
	return nil
}

func (r *procRunner) Stdout() io.ReadCloser {
	if r.stdout == nil {
		return io.NopCloser(eofReader{})
	}
	if r.handshake == nil {
		r.handshake = newHandshakeReader(r.stdout)
	}
	return r.handshake
}

func (r *procRunner) Stderr() io.ReadCloser {
	if r.stderr == nil {
		return io.NopCloser(eofReader{})
	}
	return r.stderr
}

func (r *procRunner) Name() string { return r.path }

func (r *procRunner) ID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pid == 0 {
		return ""
	}
	return strconv.Itoa(r.pid)
}

func (r *procRunner) Diagnose(context.Context) string { return "" }

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// outPipe is the read end of a pack's stdout or stderr. It reads as a
// pipe does until the pack process exits (stop); from then on it takes
// only what is already in the pipe, without waiting for the other holders
// of the write end (descendants of the pack) to close it, and then ends.
type outPipe struct {
	f *os.File

	mu      sync.Mutex
	stopped bool // the process exited: drain, do not wait
	eof     bool
	drained int
}

// drainMax bounds what is taken from a pipe after the process exited, in
// case a descendant keeps writing to it.
const drainMax = 1 << 20

// stop is called when the process has exited: a Read waiting for data
// returns, and later ones only take what is in the pipe.
func (p *outPipe) stop() {
	// The deadline first, so that a Read that sees stopped set does not
	// meet the deadline after it cleared it.
	_ = p.f.SetReadDeadline(time.Now())
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}

func (p *outPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	stopped, eof := p.stopped, p.eof
	p.mu.Unlock()
	if eof {
		return 0, io.EOF
	}
	if !stopped {
		n, err := p.f.Read(b)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			if err != nil {
				p.end()
			}
			return n, err
		}
		if n > 0 {
			return n, nil
		}
	}
	return p.drain(b)
}

// drain reads what is in the pipe now, without waiting; at its end (or
// drainMax), the pipe ends.
func (p *outPipe) drain(b []byte) (int, error) {
	_ = p.f.SetReadDeadline(time.Time{})
	rc, err := p.f.SyscallConn()
	if err != nil {
		p.end()
		return 0, io.EOF
	}
	var n int
	var rerr error
	if err := rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), b)
		return true // never wait for more
	}); err != nil || rerr != nil || n <= 0 {
		p.end()
		return 0, io.EOF
	}
	p.mu.Lock()
	p.drained += n
	over := p.drained > drainMax
	p.mu.Unlock()
	if over {
		p.end()
	}
	return n, nil
}

// end closes the pipe; later reads return io.EOF.
func (p *outPipe) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.eof {
		p.eof = true
		p.f.Close()
	}
}

// Close is go-plugin's; the pipe closes itself at its end.
func (p *outPipe) Close() error {
	p.end()
	return nil
}
