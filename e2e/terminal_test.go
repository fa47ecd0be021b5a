package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	xansi "github.com/charmbracelet/x/ansi"
	"github.com/creack/pty"
)

// onTerminal runs taskhost on a pseudo-terminal of cols columns that
// never answers a query, calling seen with all output so far after each
// read. It returns the output and the exit code; it fails the test if the
// command has not ended within guard.
func onTerminal(t *testing.T, cols uint16, guard time.Duration, seen func(string), args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "taskhost"), args...)
	cmd.Env = terminalEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: cols})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
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
	var out bytes.Buffer
	timeout := time.After(guard)
	for done := false; !done; {
		select {
		case chunk, ok := <-read:
			if !ok {
				done = true
				break
			}
			out.Write(chunk)
			if seen != nil {
				seen(out.String())
			}
		case <-timeout:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("%v: still running after %s on a terminal that does not answer; output so far:\n%q", args, guard, out.String())
		}
	}
	err = cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

// Text a pack sends (a step's name, a reason) is shown with its control
// characters escaped, on the terminal and in report.html; results.json
// keeps it exact.
func TestControlCharactersAreShownEscaped(t *testing.T) {
	name := "bold \x1b[1mon\x00\x01 \u202ereversed"
	steps, err := json.Marshal([]map[string]string{{"name": name, "result": "failed"}})
	if err != nil {
		t.Fatal(err)
	}
	path := job(t, `
job "odd" {}
task "odd" {
  pack = "testpack"
  task = "tree"
  args = { steps = jsondecode(`+strings.ReplaceAll(mustJSON(string(steps)), "${", "$${")+`) }
}
`)
	raw := func(s string) bool {
		return strings.ContainsAny(s, "\x00\x01\u202e") || strings.Contains(s, "\x1b[1mon")
	}
	const shown = `bold \x1b[1mon\x00\x01 \u202ereversed`
	for _, flags := range [][]string{nil, {"-v"}} {
		r := taskhost(t, append(append([]string{"run"}, flags...), path)...)
		if r.code != 1 {
			t.Fatalf("%v: exit %d\n%s\n%s", flags, r.code, r.stdout, r.stderr)
		}
		if raw(r.stdout) || raw(r.stderr) {
			t.Errorf("%v: control characters reach the terminal raw:\n%q", flags, r.stdout)
		}
		if !strings.Contains(r.stdout, shown) {
			t.Errorf("%v: the name is not shown escaped (%s):\n%s", flags, shown, r.stdout)
		}
		f := r.results(t)
		if got := taskByID(t, f, "odd").Sections[0].Name; got != name {
			t.Errorf("results.json has the name %q, want it exact: %q", got, name)
		}
		page, err := os.ReadFile(filepath.Join(r.runDir(t), "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		if raw(string(page)) || !strings.Contains(string(page), shown) {
			t.Errorf("report.html does not show the name escaped")
		}
	}
	// The live view too.
	runs := filepath.Join(t.TempDir(), "runs")
	out, code := onTerminal(t, 200, 60*time.Second, nil, "run", "-v", "--runs-dir", runs, path)
	if code != 1 {
		t.Fatalf("live: exit %d\n%q", code, out)
	}
	if raw(out) || !strings.Contains(xansi.Strip(out), shown) {
		t.Errorf("live: control characters reach the terminal raw, or the name is not shown escaped:\n%q", out)
	}
}
