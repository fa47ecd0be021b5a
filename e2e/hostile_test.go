package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangAfter is when a run of taskhost on a hostile jobfile counts as
// hung. It is not a measure of speed: each ends in well under a second on
// a quiet machine, but a -race build on two cores shared with a loaded
// suite has taken over a minute; a hang never ends.
const hangAfter = 5 * time.Minute

// boundedTaskhost runs taskhost with args in dir, with a core size limit
// of 0 (a crash aborts with SIGABRT), and fails the test if it does not
// end within hangAfter. It returns the exit code (-1 when killed by a
// signal), the signal, and stderr.
func boundedTaskhost(t *testing.T, dir string, env []string, args ...string) (int, syscall.Signal, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangAfter)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `ulimit -c 0; exec "$0" "$@"`, filepath.Join(bin, "taskhost")}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("taskhost %s did not end within %s: it hangs", strings.Join(args, " "), hangAfter)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return -1, ws.Signal(), stderr.String()
		}
		return ws.ExitStatus(), 0, stderr.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, 0, stderr.String()
}

// TestHostileJobfilesExitCode runs taskhost validate on jobfiles that
// crashed it (a Go fatal error exiting with 2, as a diagnostic does) or
// hung it: each must end (within hangAfter) with a diagnostic and exit code
// 2, or load (exit code 0), and never crash. host/jobfile's
// TestHostileJobfiles checks each limit's diagnostic in detail.
func TestHostileJobfilesExitCode(t *testing.T) {
	t.Parallel()
	const head = "job \"j\" {}\n"
	local := func(expr string) string { return head + "locals {\n  x = " + expr + "\n}\n" }
	nest := func(open, mid, close string, n int) string {
		return strings.Repeat(open, n) + mid + strings.Repeat(close, n)
	}
	var chain strings.Builder
	chain.WriteString(head + "locals {\nl0=1\n")
	for i := 1; i <= 26_000; i++ {
		fmt.Fprintf(&chain, "l%d=local.l%d\n", i, i-1)
	}
	chain.WriteString("}\n")
	numVar := "variable \"n\" {\n  type = number\n}\n" + head
	anyVar := "variable \"n\" {\n  type    = any\n  default = 1\n}\n" + head
	tests := map[string]struct {
		src  string
		args []string
		cmd  []string // the command and its arguments; validate job.hcl if nil
		want int      // exit code
	}{
		"nested lists":        {src: local(nest("[", "", "]", 100_000)), want: 2},
		"nested calls":        {src: local(nest("abs(", "1", ")", 100_000)), want: 2},
		"nested nots":         {src: local(strings.Repeat("!", 100_000) + "true"), want: 2},
		"nested ifs":          {src: local(`"` + nest("%{if true}", "x", "%{endif}", 25_000) + `"`), want: 2},
		"count":               {src: head + "pack \"p\" { path = \"p\" }\ntask \"t\" {\n  count = 10000000000\n  pack  = \"p\"\n  task  = \"t\"\n}\n", want: 2},
		"nested fors":         {src: local("[for a in range(1024) : [for b in range(1024) : [for c in range(1024) : 1]]]"), want: 2},
		"file of a fifo":      {src: local(`file("fifo")`), want: 2},
		"var file /dev/zero":  {src: anyVar, args: []string{"-var-file", "/dev/zero"}, want: 2},
		"var file fifo":       {src: anyVar, args: []string{"-var-file", "fifo"}, want: 2},
		"huge number":         {src: numVar, args: []string{"-var", "n=1e99999999"}, want: 2},
		"chain of locals":     {src: chain.String(), want: 0},
		"source too large":    {src: local(`"` + strings.Repeat("x", 1<<20) + `"`), want: 2},
		"random bytes (seed)": {src: randomBytes(100 << 10), want: 2},
		// taskhost fmt parses with HCL too, within the same limits.
		"fmt of nested lists": {src: local(nest("[", "", "]", 100_000)), cmd: []string{"fmt", "job.hcl"}, want: 2},
		"fmt of a fifo":       {src: head, cmd: []string{"fmt", "fifo"}, want: 2},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "job.hcl"), []byte(tt.src), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := tt.cmd
			if cmd == nil {
				cmd = []string{"validate", "job.hcl"}
			}
			code, sig, stderr := boundedTaskhost(t, dir, nil, append(cmd, tt.args...)...)
			if sig != 0 || code != tt.want {
				t.Fatalf("exit code %d (signal %v), want %d; stderr:\n%.3000s", code, sig, tt.want, stderr)
			}
			for _, crash := range []string{"fatal error", "goroutine ", "panic:"} {
				if strings.Contains(stderr, crash) {
					t.Fatalf("stderr holds %q:\n%.3000s", crash, stderr)
				}
			}
			if tt.want == 2 && !strings.Contains(stderr, "Error: ") {
				t.Fatalf("no diagnostic on stderr:\n%.3000s", stderr)
			}
			if len(stderr) > 64<<10 {
				t.Errorf("%d bytes on stderr", len(stderr))
			}
		})
	}
}

// randomBytes returns n bytes of a fixed pseudo-random sequence.
func randomBytes(n int) string {
	b := make([]byte, n)
	seed := uint64(14)
	for i := range b {
		seed = seed*6364136223846793005 + 1442695040888963407
		b[i] = byte(seed >> 56)
	}
	return string(b)
}

// TestCrashExitCodes checks that a crash of taskhost cannot be taken for
// a diagnostic (exit code 2): a panic of the main goroutine exits with 5,
// and a panic of another goroutine or a Go runtime fatal error aborts
// with SIGABRT, each with its stack on stderr. TASKHOST_TEST_CRASH is the
// trigger taskhost keeps for this test.
func TestCrashExitCodes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		code   int
		sig    syscall.Signal
		stderr string
	}{
		"panic":     {code: 5, stderr: "taskhost: internal error"},
		"goroutine": {code: -1, sig: syscall.SIGABRT, stderr: "panic: TASKHOST_TEST_CRASH=goroutine"},
		"fatal":     {code: -1, sig: syscall.SIGABRT, stderr: "fatal error: stack overflow"},
	}
	for how, tt := range tests {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			code, sig, stderr := boundedTaskhost(t, dir, []string{"TASKHOST_TEST_CRASH=" + how}, "validate", "job.hcl")
			if code != tt.code || sig != tt.sig {
				t.Fatalf("exit code %d, signal %v; want %d, %v; stderr:\n%.3000s", code, sig, tt.code, tt.sig, stderr)
			}
			if !strings.Contains(stderr, tt.stderr) || !strings.Contains(stderr, "goroutine ") {
				t.Fatalf("want %q and a stack on stderr, got:\n%.3000s", tt.stderr, stderr)
			}
		})
	}
}
