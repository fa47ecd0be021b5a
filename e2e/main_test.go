// Package e2e runs the taskhost binary on jobfiles of real pack binaries,
// as a user would, and checks the run directory it leaves.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/taskhost/taskhost/host/results"
)

// bin holds the binaries built once for the whole package.
var bin string

// buildFlags are added to go build for those binaries.
var buildFlags []string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "taskhost-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = dir
	args := append(append([]string{"build"}, buildFlags...), "-o", dir+"/",
		"../cmd/taskhost", "../plugins/demo", "../plugins/exec", "../internal/testpack", "../internal/testpack/otherproto")
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	return m.Run()
}

// job writes a jobfile into a new temporary directory, with pack blocks
// for the test binaries prepended, and returns its path.
func job(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`
pack "testpack" { path = %q }
pack "demo"     { path = %q }
pack "exec"     { path = %q }
`, filepath.Join(bin, "testpack"), filepath.Join(bin, "demo"), filepath.Join(bin, "exec")) + body
	path := filepath.Join(dir, "job.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type runResult struct {
	code           int
	stdout, stderr string
	runsDir        string
}

// taskhost runs the taskhost binary with --runs-dir in a temporary
// directory for "run".
func taskhost(t *testing.T, args ...string) runResult {
	t.Helper()
	return taskhostEnv(t, nil, args...)
}

// taskhostEnv is taskhost with extra environment variables.
func taskhostEnv(t *testing.T, env []string, args ...string) runResult {
	t.Helper()
	return taskhostExe(t, filepath.Join(bin, "taskhost"), env, args...)
}

// taskhostExe is taskhostEnv with the taskhost binary at exe.
func taskhostExe(t *testing.T, exe string, env []string, args ...string) runResult {
	t.Helper()
	runs := filepath.Join(t.TempDir(), "runs")
	if len(args) > 0 && args[0] == "run" {
		args = append([]string{"run", "--runs-dir", runs}, args[1:]...)
	}
	cmd := exec.Command(exe, args...)
	// If the test binary dies (a test timed out), so does the host, and
	// with it its packs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String(), runsDir: runs}
}

// runDir returns the one run directory made in r.runsDir.
func (r runResult) runDir(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir(r.runsDir)
	entries = slices.DeleteFunc(entries, func(e os.DirEntry) bool { return e.Name() == "archive" }) // run --archive
	if err != nil || len(entries) != 1 {
		t.Fatalf("want one run directory in %s, got %v (%v)\nstdout:\n%s\nstderr:\n%s", r.runsDir, entries, err, r.stdout, r.stderr)
	}
	return filepath.Join(r.runsDir, entries[0].Name())
}

// results reads the run's results.json.
func (r runResult) results(t *testing.T) *results.File {
	t.Helper()
	f, err := results.Read(filepath.Join(r.runDir(t), "results.json"))
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	return f
}

func taskByID(t *testing.T, f *results.File, id string) *results.Task {
	t.Helper()
	for _, task := range f.Report.Tasks {
		if task.ID == id {
			return task
		}
	}
	t.Fatalf("no task %q in results", id)
	return nil
}

// alive reports whether a process with this pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
