package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/taskhost/taskhost/host/runner"
	"github.com/taskhost/taskhost/sdk/result"
)

// lineReader hands the lines of r to whoever waits for one.
type lineReader struct {
	mu    sync.Mutex
	lines []string
	more  chan struct{} // closed and replaced on each line
	done  bool
}

func readLinesOf(r io.Reader) *lineReader {
	lr := &lineReader{more: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lr.mu.Lock()
			lr.lines = append(lr.lines, sc.Text())
			close(lr.more)
			lr.more = make(chan struct{})
			lr.mu.Unlock()
		}
		lr.mu.Lock()
		lr.done = true
		close(lr.more)
		lr.mu.Unlock()
	}()
	return lr
}

// waitFor returns the first line for which match is true, waiting for it;
// it fails the test if the reader ends first, or (so that a broken test
// fails with what it saw rather than hangs) after two minutes.
func (lr *lineReader) waitFor(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	giveUp := time.After(2 * time.Minute)
	for i := 0; ; {
		lr.mu.Lock()
		for ; i < len(lr.lines); i++ {
			if match(lr.lines[i]) {
				l := lr.lines[i]
				lr.mu.Unlock()
				return l
			}
		}
		more, done := lr.more, lr.done
		lr.mu.Unlock()
		if done {
			t.Fatalf("never saw %s in:\n%s", what, lr.text())
		}
		select {
		case <-more:
		case <-giveUp:
			t.Fatalf("no %s after two minutes in:\n%s", what, lr.text())
		}
	}
}

func (lr *lineReader) text() string {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	return strings.Join(lr.lines, "\n")
}

// --debug: the task's pack waits under Delve; a script attaches with the
// dlv client as the host says to, stops at a breakpoint in the task,
// continues, and the task passes. The other task runs meanwhile.
func TestRunDebugWithDelve(t *testing.T) {
	dlv, err := runner.FindDelve("")
	if err != nil {
		t.Skip("Delve is not installed here (make test installs it: scripts/test-deps): ", err)
	}
	path := hookJob(t, `
job "debug" {}
task "dbg" {
  pack = "hookpack"
  task = "debugme"
}
task "other" {
  pack = "hookpack"
  task = "pass"
}
`)
	runs := filepath.Join(t.TempDir(), "runs")
	host := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, "--debug", "dbg", "--dlv", dlv, path)
	host.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	hostOut, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	hostErr, err := host.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	out, notices := readLinesOf(hostOut), readLinesOf(hostErr)

	// The other task does not wait for the debugger.
	out.waitFor(t, "other PASSED", func(l string) bool { return strings.Contains(l, "other PASSED") })

	connect := notices.waitFor(t, "the dlv connect line", func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "dlv connect ") })
	brk := notices.waitFor(t, "the break line", func(l string) bool { return strings.HasPrefix(strings.TrimSpace(l), "break ") })
	notices.waitFor(t, "the VS Code configuration", func(l string) bool { return strings.Contains(l, `"request": "attach", "mode": "remote"`) })
	addr := strings.TrimPrefix(strings.TrimSpace(connect), "dlv connect ")
	if !strings.HasPrefix(strings.TrimSpace(brk), "break main.") {
		t.Errorf("the host suggests %q, want the task's function in package main", brk)
	}

	// Type what the host said, and a breakpoint in the function the task calls.
	client := exec.Command(dlv, "connect", addr)
	client.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := client.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cout, err := client.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	client.Stderr = client.Stdout
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Process.Kill(); client.Wait() })
	dl := readLinesOf(cout)
	fmt.Fprintf(stdin, "%s\nbreak main.debugTarget\ncontinue\n", strings.TrimSpace(brk))
	dl.waitFor(t, "the task's breakpoint hit", func(l string) bool { return strings.Contains(l, "[Breakpoint 1]") && strings.Contains(l, "main.") })
	fmt.Fprintf(stdin, "continue\n")
	dl.waitFor(t, "the breakpoint in debugTarget hit", func(l string) bool {
		return strings.Contains(l, "[Breakpoint 2]") && strings.Contains(l, "main.debugTarget")
	})
	fmt.Fprintf(stdin, "print a + b\ncontinue\n")
	dl.waitFor(t, "a + b", func(l string) bool { return strings.TrimSpace(l) == "5" || strings.HasSuffix(l, " 5") })

	werr := host.Wait()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		t.Fatal(werr)
	}
	if code := host.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s\ndlv:\n%s", code, out.text(), notices.text(), dl.text())
	}
	stdin.Close()
	r := runResult{runsDir: runs}
	f := r.results(t)
	for _, id := range []string{"dbg", "other"} {
		if tr := taskByID(t, f, id); tr.Result.Value != result.Passed {
			t.Errorf("%s: %s (%s)", id, tr.Result.Value, tr.Result.Reason)
		}
	}
	if pid := taskByID(t, f, "dbg").PID; alive(pid) {
		t.Errorf("the debugged pack's group leader (pid %d) outlived the run", pid)
	}
}

// --interactive under a pseudo-terminal: the task reads a line typed at
// its prompt.
func TestRunInteractive(t *testing.T) {
	path := hookJob(t, `
job "ask" {}
task "ask" {
  pack = "hookpack"
  task = "ask"
}
task "quiet" {
  pack = "hookpack"
  task = "pass"
}
`)
	runs := filepath.Join(t.TempDir(), "runs")
	cmd := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, "--interactive", "ask", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	t.Cleanup(func() { cmd.Process.Kill() })

	var (
		mu     sync.Mutex
		screen bytes.Buffer
		grown  = make(chan struct{}, 1)
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			select {
			case grown <- struct{}{}:
			default:
			}
			if err != nil {
				return // EIO once the host has exited
			}
		}
	}()
	seen := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(screen.String(), s)
	}
	for !seen("What is your name? ") {
		select {
		case <-grown:
		case <-readDone:
			t.Fatalf("no prompt on the terminal:\n%s", screen.String())
		}
	}
	if _, err := ptmx.Write([]byte("Ada Lovelace\r")); err != nil {
		t.Fatal(err)
	}
	werr := cmd.Wait()
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) {
		t.Fatal(werr)
	}
	select {
	case <-readDone:
	case <-time.After(10 * time.Second): // only bounds a hang; the result does not depend on it
	}
	mu.Lock()
	text := screen.String()
	mu.Unlock()
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d; terminal:\n%s", code, text)
	}
	if !strings.Contains(text, "Hello, Ada Lovelace!") {
		t.Errorf("the task's answer is not on the terminal:\n%s", text)
	}
	f := runResult{runsDir: runs}.results(t)
	ask := taskByID(t, f, "ask")
	if ask.Result.Value != result.Passed || len(ask.Sections) != 1 {
		t.Fatalf("ask: %s (%s), %d sections", ask.Result.Value, ask.Result.Reason, len(ask.Sections))
	}
	var data struct{ Answer string }
	if err := json.Unmarshal(ask.Sections[0].Result.Data, &data); err != nil || data.Answer != "Ada Lovelace" {
		t.Errorf("ask's data = %s (%v), want the answer typed", ask.Sections[0].Result.Data, err)
	}
	if q := taskByID(t, f, "quiet"); q.Result.Value != result.Passed {
		t.Errorf("quiet: %s", q.Result.Value)
	}

}

// --debug and --interactive are checked before anything runs.
func TestRunDebugFlagsChecked(t *testing.T) {
	path := hookJob(t, `
job "debug" {}
task "dbg" {
  pack = "hookpack"
  task = "debugme"
}
`)
	tests := map[string]struct {
		args []string
		want string
	}{
		"no such task":   {[]string{"--debug", "nope"}, `--debug nope: the job has no task "nope"`},
		"no Delve":       {[]string{"--debug", "dbg", "--dlv", "/nonexistent/dlv"}, "--debug needs Delve (dlv): install it with `go install github.com/go-delve/delve/cmd/dlv@latest`"},
		"same task":      {[]string{"--debug", "dbg", "--interactive", "dbg"}, `--debug and --interactive name the same task "dbg"`},
		"no such prompt": {[]string{"--interactive", "nope"}, `--interactive nope: the job has no task "nope"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := taskhost(t, append(append([]string{"run"}, tc.args...), path)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, want 2 with %q\nstderr:\n%s", r.code, tc.want, r.stderr)
			}
			if _, err := os.Stat(r.runsDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a run directory was made (%v)", err)
			}
		})
	}
}
