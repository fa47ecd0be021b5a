package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Off a terminal, the run prints plain timestamped lines: no escape codes.
func TestPlainOutputHasNoEscapeCodes(t *testing.T) {
	path := job(t, mixedJob)
	stamp := regexp.MustCompile(`^\d\d:\d\d:\d\d `)
	for _, flags := range [][]string{nil, {"-v"}, {"-q"}} {
		r := taskhost(t, append(append([]string{"run"}, flags...), path)...)
		if r.code != 1 {
			t.Fatalf("%v: exit %d\n%s\n%s", flags, r.code, r.stdout, r.stderr)
		}
		if strings.ContainsRune(r.stdout, '\x1b') || strings.ContainsRune(r.stderr, '\x1b') {
			t.Errorf("%v: escape codes in plain output:\n%q", flags, r.stdout)
		}
		progress, summary, ok := strings.Cut(r.stdout, "\nTASK ")
		if !ok || !strings.Contains(summary, "Run directory: "+r.runDir(t)) {
			t.Fatalf("%v: no summary table and run directory:\n%s", flags, r.stdout)
		}
		for _, line := range strings.Split(strings.TrimSpace(progress), "\n") {
			if !stamp.MatchString(line) {
				t.Errorf("%v: line without a time stamp: %q", flags, line)
			}
		}
		has := func(s string) bool { return strings.Contains(progress, s) }
		switch {
		case flags == nil:
			if !has("hello started (pack demo") || !has("hello PASSED in") || !has("checks FAILED in") || !has("after BLOCKED dependency checks ended Failed") || has("2.2 Gi0/2 is up: FAILED") {
				t.Errorf("default lines:\n%s", progress)
			}
		case flags[0] == "-v":
			if !has("checks 2.2 Gi0/2 is up: FAILED (Gi0/2 is down (expected up))") || !has("hello PASSED in") {
				t.Errorf("-v lines:\n%s", progress)
			}
		case flags[0] == "-q":
			if has("hello") || has("started") || !has("checks FAILED in") || !has("crash ERRORED in") || !has("after BLOCKED") {
				t.Errorf("-q lines:\n%s", progress)
			}
			// The summary table too lists only what did not pass, and says
			// how many passed.
			if strings.Contains(summary, "PASSED") || !strings.Contains(summary, "checks  FAILED") ||
				!strings.Contains(summary, "1 task that passed is not listed (-q)") || !strings.Contains(summary, "Job mixed: ERRORED") {
				t.Errorf("-q summary:\n%s", summary)
			}
		}
	}
	if r := taskhost(t, "run", "-q", "-v", path); r.code != 2 {
		t.Errorf("-q -v: exit %d, want 2", r.code)
	}
}

// On a terminal (a pseudo-terminal here), the live view is drawn and
// redrawn in place while a task runs, then the summary follows.
// ansi matches the escape sequences of a terminal.
var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|\][^\x1b\a]*(\x1b\\|\a))`)

// terminalEnv is the environment of a colour terminal a person sits at:
// the test's own, less what turns colours off (CI systems set CI, which
// makes Lip Gloss treat any output as no terminal for colours).
func terminalEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "CI", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "TERM", "COLORTERM":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "TERM=xterm-256color", "COLORTERM=truecolor")
}

func TestLiveViewOnATerminal(t *testing.T) {
	dir := t.TempDir()
	path := job(t, `
job "live" { max_parallel = 4 }
task "waiter" {
  pack = "testpack"
  task = "meet"
  args = { dir = "`+dir+`", name = "waiter", peer = "go" }
}
task "bad" {
  pack = "testpack"
  task = "fail"
}
task "fine" {
  pack = "testpack"
  task = "pass"
}
`)
	runs := filepath.Join(t.TempDir(), "runs")
	cmd := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path)
	cmd.Env = terminalEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var out bytes.Buffer
	read := make(chan []byte)
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			if n > 0 {
				read <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	// Wait until the view shows the waiting task running and the failure
	// of the other: then let the waiter finish.
	guard := time.After(90 * time.Second)
	released := false
	for chunk := range read {
		out.Write(chunk)
		s := ansi.ReplaceAllString(out.String(), "")
		if !released && strings.Contains(s, "▸ waiter") && strings.Contains(s, "latest failure: bad") {
			released = true
			if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case <-guard:
			cmd.Process.Kill()
			t.Fatalf("no live view of the running task within the guard time:\n%q", out.String())
		default:
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want 1\n%q", err, out.String())
	}
	raw := out.String()
	s := ansi.ReplaceAllString(raw, "")
	if !released {
		t.Fatalf("the live view never showed the running task:\n%q", s)
	}
	for _, want := range []string{
		"taskhost live", "tasks ended", // the live block
		"TASK", "RESULT", "DURATION", "REASON", "waiter", "Run directory: " + runs, // the summary
	} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, s)
		}
	}
	// Redrawn in place: the view moves the cursor up over the block and
	// erases it, rather than only appending.
	if !regexp.MustCompile(`\x1b\[\d*A`).MatchString(raw) || !strings.Contains(raw, "\x1b[J") {
		t.Errorf("no cursor movement up and erasing: not redrawn in place:\n%q", raw)
	}
	// The view shows the counts by result, in colour.
	if !strings.Contains(raw, "\x1b[1;31m1 failed") {
		t.Errorf("no count of failed tasks in red:\n%q", raw)
	}
	// What ended is printed above the view and stays.
	if !regexp.MustCompile(`bad .*FAILED.* in `).MatchString(s) {
		t.Errorf("no line for the failed task:\n%q", s)
	}
}
