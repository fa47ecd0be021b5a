package launch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gone waits up to 10 s for process pid to be gone from /proc: killed and
// reaped, not a zombie.
func gone(pid int) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

// readPID waits up to 10 s for a pid in file.
func readPID(t *testing.T, file string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(file)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
			return pid
		}
	}
	t.Fatalf("no pid in %s", file)
	return 0
}

// startMember starts sh -c script as a member of s would be started by
// Start, and waits for sh to exit.
func startMember(t *testing.T, s *Supervisor, script string, args ...string) *member {
	t.Helper()
	m := s.member()
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.Env = append(os.Environ(), m.marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := newProcRunner(cmd, m, "sh")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, r.Stdout())
	go io.Copy(io.Discard, r.Stderr())
	if err := r.Wait(context.Background()); err != nil {
		t.Fatalf("sh: %v", err)
	}
	return m
}

// A process that left the launch's process group and session, and was
// orphaned (so re-parented to this process, the subreaper), is killed when
// the launch ends and reaped: with the launch's cgroup, and with only its
// marker.
func TestSupervisorEndsWhatLeftTheGroup(t *testing.T) {
	for _, mode := range []string{"cgroup", "marker"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "marker" {
				t.Setenv(NoCgroupEnv, "1")
			}
			s := NewSupervisor(nil)
			defer s.Close()
			if dir, why := s.Cgroup(); mode == "cgroup" && dir == "" {
				t.Skipf("no cgroup here: %s", why)
			} else if mode == "marker" && dir != "" {
				t.Fatalf("%s set, yet a cgroup: %s", NoCgroupEnv, dir)
			}
			pidFile := filepath.Join(t.TempDir(), "pid")
			m := startMember(t, s, `setsid sh -c 'sleep 30 & echo $! >"$1"' sh "$1"`, pidFile)
			pid := readPID(t, pidFile)
			if err := syscall.Kill(pid, 0); err != nil {
				t.Fatalf("the sleep is not running: %v", err)
			}
			m.finish(0)
			if !gone(pid) {
				t.Errorf("the sleep (pid %d) is still there, alive or a zombie", pid)
			}
			if m.leaf != nil {
				if _, err := os.Stat(m.leaf.dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the launch's cgroup %s is still there (%v)", m.leaf.dir, err)
				}
			}
		})
	}
}

// Close kills an orphan that carries no marker and is in no cgroup (it
// cleared its environment), when no other Supervisor is open.
func TestSupervisorCloseKillsEveryOrphan(t *testing.T) {
	t.Setenv(NoCgroupEnv, "1")
	s := NewSupervisor(nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	startMember(t, s, `setsid env -i sh -c 'sleep 30 & echo $! >"$1"' sh "$1"`, pidFile)
	pid := readPID(t, pidFile)
	s.Close()
	if !gone(pid) {
		t.Errorf("the orphan (pid %d) is still there after Close", pid)
	}
}

// While a Supervisor reaps adopted orphans, the processes Start starts are
// still waited for by their own exec.Cmd, which sees their real exit
// status: the reaper never takes them.
func TestReaperLeavesOwnChildren(t *testing.T) {
	s := NewSupervisor(nil)
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("sh", "-c", "(sleep 0.01 &); exit 3")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			r := newProcRunner(cmd, s.member(), "sh")
			if err := r.Start(context.Background()); err != nil {
				errs <- err
				return
			}
			go io.Copy(io.Discard, r.Stdout())
			go io.Copy(io.Discard, r.Stderr())
			var ee *exec.ExitError
			if err := r.Wait(context.Background()); !errors.As(err, &ee) || ee.ExitCode() != 3 {
				errs <- fmt.Errorf("wait: %v, want exit status 3", err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The pack's stdout ends, with what was written to it, once the pack has
// exited, though a process it left still holds the pipe open.
func TestOutputEndsWhenTheProcessExits(t *testing.T) {
	t.Setenv(NoCgroupEnv, "1")
	s := NewSupervisor(nil)
	defer s.Close()
	m := s.member()
	cmd := exec.Command("sh", "-c", "echo hello; sleep 30 &")
	cmd.Env = append(os.Environ(), m.marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := newProcRunner(cmd, m, "sh")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.finish(0)
	go io.Copy(io.Discard, r.Stderr())
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r.Stdout())
		got <- string(b)
	}()
	select {
	case out := <-got:
		if out != "hello\n" {
			t.Errorf("read %q, want \"hello\\n\"", out)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("stdout did not end after the process exited (the sleep holds it)")
	}
}

// The cgroup of a host that is gone is killed, with what is in it, and
// removed when the next Supervisor is made; that of a live host is left.
func TestStaleCgroupsSwept(t *testing.T) {
	parent, _, err := ownCgroup()
	if err != nil {
		t.Skipf("no cgroup here: %v", err)
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(parent, fmt.Sprintf("%s%d-test", cgroupPrefix, dead.Process.Pid))
	leaf := filepath.Join(stale, "p1")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		t.Skipf("cannot make cgroups here: %v", err)
	}
	t.Cleanup(func() { os.Remove(leaf); os.Remove(stale) })
	fd, err := syscall.Open(leaf, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "30")
	sleep.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	err = startChild(sleep)
	syscall.Close(fd)
	if err != nil {
		t.Skipf("cannot start a process in a cgroup here: %v", err)
	}
	s := NewSupervisor(nil)
	defer s.Close()
	werr := sleep.Wait()
	childDone(sleep.Process.Pid)
	if ws, ok := sleep.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the process in the stale cgroup ended with %v, want killed", werr)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale cgroup %s is still there (%v)", stale, err)
	}
}

// A start stopped by its context, or by its start timeout, kills the
// process it started, and says why.
func TestStartStopped(t *testing.T) {
	dir := t.TempDir()
	pack := filepath.Join(dir, "silent")
	if err := os.WriteFile(pack, []byte("#!/bin/sh\necho $$ >\"$PID_FILE\"\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		cancelAfter time.Duration
		start       time.Duration
		want        error
	}{
		"cancelled":  {cancelAfter: 300 * time.Millisecond, want: context.Canceled},
		"start took": {start: 300 * time.Millisecond, want: ErrStartTimeout},
	} {
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(dir, name+".pid")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancelAfter > 0 {
				time.AfterFunc(c.cancelAfter, cancel)
			}
			s := NewSupervisor(nil)
			defer s.Close()
			p, err := Start(ctx, Config{Path: pack, Env: []string{"PID_FILE=" + pidFile}, StartTimeout: c.start,
				SocketDir: dir, Supervisor: s})
			if err == nil {
				p.Kill()
				t.Fatal("a pack that never serves started")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("error %v, want %v", err, c.want)
			}
			if pid := readPID(t, pidFile); !gone(pid) {
				t.Errorf("the pack (pid %d) is still there", pid)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "plugin*")); len(left) > 0 {
				t.Errorf("left in the socket directory: %v", left)
			}
		})
	}
}

// A process that cannot be started in its cgroup is started without one,
// and the Supervisor starts the next ones without a cgroup (finding their
// processes by the marker).
func TestStartWithoutTheCgroupWhenItFails(t *testing.T) {
	s := NewSupervisor(nil)
	defer s.Close()
	if dir, why := s.Cgroup(); dir == "" {
		t.Skipf("no cgroup here: %s", why)
	}
	m := s.member()
	if m.leaf == nil {
		t.Fatal("no cgroup for the launch")
	}
	// A removed cgroup takes no process.
	if err := os.Remove(m.leaf.dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := newProcRunner(cmd, m, "sh")
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("not started without the cgroup: %v", err)
	}
	go io.Copy(io.Discard, r.Stdout())
	go io.Copy(io.Discard, r.Stderr())
	if err := r.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dir, why := s.Cgroup(); dir != "" || !strings.Contains(why, "cannot start a process in its cgroup") {
		t.Errorf("after the failure: cgroup %q, reason %q; want none, and why", dir, why)
	}
	if next := s.member(); next.leaf != nil {
		t.Errorf("the next launch got a cgroup: %s", next.leaf.dir)
	}
}
