package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// doctorRun runs the taskhost binary at th with TMPDIR set, as uid when
// uid is not -1, and returns its exit code, stdout and stderr.
func doctorRun(t *testing.T, th, tmpdir string, uid int, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(th, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmpdir)
	cmd.Dir = filepath.Dir(th)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

func TestDoctorOK(t *testing.T) {
	runs := filepath.Join(t.TempDir(), "runs")
	code, out, errOut := doctorRun(t, filepath.Join(bin, "taskhost"), t.TempDir(), -1, "doctor", "--runs-dir", runs)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"ok       socket directory:", "ok       socket path length:", "ok       runs directory:", "ok       hub: started and stopped", "skipped  lock file: no lock file"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// A socket directory that cannot be written: doctor says so and how to
// fix it, and run refuses to start with the same message.
func TestDoctorSocketDirNotWritable(t *testing.T) {
	// Root may write anywhere; the check is run as nobody then, from a
	// copy of taskhost that nobody can run.
	uid := -1
	base := t.TempDir()
	if os.Getuid() == 0 {
		uid = 65534
		var err error
		if base, err = os.MkdirTemp("", "taskhost-doctor-"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	th := filepath.Join(base, "taskhost")
	copyFile(t, filepath.Join(bin, "taskhost"), th)
	ro := filepath.Join(base, "sockets")
	runs := filepath.Join(base, "runs")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(runs, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(runs, 0o777) // whatever the umask
	job := filepath.Join(base, "job.hcl")
	if err := os.WriteFile(job, []byte(`job "j" {}`), 0o644); err != nil {
		t.Fatal(err)
	}

	code, out, _ := doctorRun(t, th, ro, uid, "doctor", "--runs-dir", runs)
	if code == 0 {
		t.Fatalf("doctor passed with an unwritable socket directory:\n%s", out)
	}
	wantLines := []string{
		"FAILED   socket directory: cannot create a directory in " + ro + " as ",
		"         fix: make " + ro + " writable (`chmod 1777 " + ro + "` for a shared temp directory), or set TMPDIR",
	}
	for _, want := range wantLines {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "permission denied") {
		t.Errorf("the reason is not given:\n%s", out)
	}

	code, out, errOut := doctorRun(t, th, ro, uid, "run", "--runs-dir", runs, job)
	if code != 4 || !strings.Contains(errOut, wantLines[0]) || !strings.Contains(errOut, wantLines[1]) || !strings.Contains(errOut, "preflight failed") {
		t.Errorf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(runs); len(entries) != 0 {
		t.Errorf("run made %v in the runs directory after a failed preflight", entries)
	}
}

// A socket directory whose path is too long for a Unix socket.
func TestDoctorSocketPathTooLong(t *testing.T) {
	long := t.TempDir()
	for len(long) < 120 {
		long = filepath.Join(long, "a-rather-long-directory-name")
	}
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	runs := filepath.Join(t.TempDir(), "runs")
	th := filepath.Join(bin, "taskhost")
	code, out, _ := doctorRun(t, th, long, -1, "doctor", "--runs-dir", runs)
	if code == 0 {
		t.Fatalf("doctor passed with a socket directory of %d bytes:\n%s", len(long), out)
	}
	want := "FAILED   socket path length: a pack's socket in " + long + " would have a path of "
	wantFix := "         fix: use a shorter directory: set TMPDIR"
	if !strings.Contains(out, want) || !strings.Contains(out, "longer than the 107 bytes a Unix socket path may have") || !strings.Contains(out, wantFix) {
		t.Errorf("want %q and its fix in:\n%s", want, out)
	}

	path := job(t, `
job "j" {}
task "a" {
  pack = "testpack"
  task = "pass"
}
`)
	code, out, errOut := doctorRun(t, th, long, -1, "run", "--runs-dir", runs, path)
	if code != 4 || !strings.Contains(errOut, want) || !strings.Contains(errOut, wantFix) {
		t.Errorf("run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, err := os.Stat(runs); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run made %s after a failed preflight (%v)", runs, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
