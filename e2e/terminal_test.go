package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

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

// terminalQuery matches what a program writes to ask the terminal
// something: its background colour (OSC 11) or the cursor's position.
var terminalQuery = regexp.MustCompile(`\x1b\]1[01];\?|\x1b\[6n`)

// A command that draws no live view does not ask the terminal anything,
// so a terminal that never answers (a pseudo-terminal of a CI runner, an
// editor's shell) does not hold it up.
func TestCommandsDoNotQueryTheTerminal(t *testing.T) {
	path := job(t, `
job "fine" {}
task "fine" {
  pack = "testpack"
  task = "pass"
}
`)
	// The guard only catches a hang: a query unanswered waits 5 s.
	for _, args := range [][]string{{"--help"}, {"validate", path}} {
		out, code := onTerminal(t, 120, 4*time.Second, nil, args...)
		if code != 0 {
			t.Errorf("%v: exit %d\n%q", args, code, out)
		}
		if terminalQuery.MatchString(out) {
			t.Errorf("%v: the terminal was queried:\n%q", args, out)
		}
	}
	// Nor does the live view: it is drawn without asking.
	runs := filepath.Join(t.TempDir(), "runs")
	out, code := onTerminal(t, 120, 60*time.Second, nil, "run", "--runs-dir", runs, path)
	if code != 0 {
		t.Fatalf("run: exit %d\n%q", code, out)
	}
	if terminalQuery.MatchString(out) {
		t.Errorf("run: the terminal was queried:\n%q", out)
	}
	if !strings.Contains(xansi.Strip(out), "fine PASSED") {
		t.Errorf("run: no line for the task:\n%q", out)
	}
}

// On an 80-column terminal, the live view leaves nothing behind: a line
// printed above it that wraps covers the view's old lines, and a view
// line wider than the terminal would wrap and be redrawn one row off.
func TestLiveViewLeavesNoDebris(t *testing.T) {
	dir := t.TempDir()
	src := `
job "narrow" { max_parallel = 6 }
task "waiter_` + strings.Repeat("w", 90) + `" {
  pack = "testpack"
  task = "meet"
  args = { dir = "` + dir + `", name = "waiter", peer = "go" }
}
`
	// Lines of the failed tasks a little wider than the terminal, and
	// much wider.
	for _, n := range []int{38, 42, 46, 50, 90} {
		src += `
task "bad_` + strings.Repeat("b", n) + `" {
  pack = "testpack"
  task = "tree"
  args = { steps = [{name = "a", result = "failed"}] }
}
`
	}
	path := job(t, src)
	runs := filepath.Join(t.TempDir(), "runs")
	released := false
	out, code := onTerminal(t, 80, 90*time.Second, func(s string) {
		s = xansi.Strip(s)
		if !released && strings.Contains(s, "▸ waiter") && strings.Contains(s, "5 failed") {
			released = true
			if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
				t.Error(err)
			}
		}
	}, "run", "--runs-dir", runs, path)
	if code != 1 || !released {
		t.Fatalf("exit %d (want 1), view shown %v:\n%q", code, released, out)
	}
	screen := emulate(out, 80)
	// Each line printed above the view is whole, with nothing of the view
	// after it on the rows it wrapped onto.
	printed := regexp.MustCompile(`^\d\d:\d\d:\d\d (job narrow: 6 tasks, run directory \S+|(bad|waiter)_\S+ (PASSED|FAILED) in [\d.]+m?s( \(1 a: set to failed\))?)$`)
	for i, line := range screen {
		for _, s := range []string{"▸", "tasks ended", "no task has ended", "latest failure", "more running"} {
			if strings.Contains(line, s) {
				t.Errorf("line %d: the live view left %q behind: %q", i, s, line)
			}
		}
		if regexp.MustCompile(`^\d\d:\d\d:\d\d `).MatchString(line) && !printed.MatchString(line) {
			t.Errorf("line %d: debris of the live view after a printed line: %q", i, line)
		}
	}
	if t.Failed() {
		t.Logf("screen:\n%s", strings.Join(screen, "\n"))
	}
	if !strings.Contains(strings.Join(screen, "\n"), "Run directory: ") {
		t.Errorf("no summary on the screen:\n%s", strings.Join(screen, "\n"))
	}
}

// emulate plays a terminal's output on a screen of cols columns with an
// endless scrollback, as a terminal would show it, and returns its lines
// (the rows a line wrapped onto joined to it).
// It knows what the live view writes: text that wraps at the last column,
// carriage return, line feed, cursor up and down, erase to the end of the
// line and of the screen; other sequences are passed over.
func emulate(out string, cols int) []string {
	var rows [][]rune
	var wrapped []bool // the row continues the one above it
	r, c, wrap := 0, 0, false
	row := func(i int) []rune {
		for len(rows) <= i {
			rows = append(rows, []rune(strings.Repeat(" ", cols)))
			wrapped = append(wrapped, false)
		}
		return rows[i]
	}
	seq := regexp.MustCompile(`^\x1b(\[([0-9;?]*)([A-Za-z@])|\][^\x07\x1b]*(\x07|\x1b\\)|[^\[\]])`)
	for s := out; s != ""; {
		if m := seq.FindStringSubmatch(s); m != nil {
			s = s[len(m[0]):]
			n := 1
			if m[2] != "" && !strings.ContainsAny(m[2], ";?") {
				n, _ = strconv.Atoi(m[2])
				n = max(n, 1)
			}
			switch m[3] {
			case "A":
				r, wrap = max(r-n, 0), false
			case "B":
				r, wrap = r+n, false
			case "K":
				if m[2] == "" || m[2] == "0" {
					copy(row(r)[c:], []rune(strings.Repeat(" ", cols-c)))
				}
			case "J":
				if m[2] == "" || m[2] == "0" {
					copy(row(r)[c:], []rune(strings.Repeat(" ", cols-c)))
					rows, wrapped = rows[:r+1], wrapped[:r+1]
				}
			}
			continue
		}
		ch, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch ch {
		case '\r':
			c, wrap = 0, false
		case '\n':
			r, wrap = r+1, false
		default:
			if ch < ' ' {
				continue
			}
			if c == 0 || wrap {
				// A row written from its start continues the one above
				// only when the text wrapped onto it.
				if wrap {
					r, c, wrap = r+1, 0, false
					row(r)
					wrapped[r] = true
				} else {
					row(r)
					wrapped[r] = false
				}
			}
			row(r)[c] = ch
			if c == cols-1 {
				wrap = true
			} else {
				c++
			}
		}
	}
	var lines []string
	for i, l := range rows {
		if wrapped[i] && len(lines) > 0 {
			lines[len(lines)-1] += string(l)
			continue
		}
		lines = append(lines, string(l))
	}
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return lines
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
