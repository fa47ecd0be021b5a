package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// otherUser returns the uid and gid of a local user other than the one
// running the tests, made with useradd if it does not exist.
func otherUser(t *testing.T) (uid, gid uint32) {
	t.Helper()
	const name = "taskhost-e2e"
	u, err := user.Lookup(name)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "already exists") {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := strconv.Atoi(u.Uid)
	g, _ := strconv.Atoi(u.Gid)
	return uint32(id), uint32(g)
}

// sockets lists the Unix sockets under dir.
func sockets(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSocket != 0 {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// TestPackSocketsArePrivate: with a umask of 000 and a temporary directory
// every user can enter (as /tmp), another local user cannot connect to
// any socket of a run (a pack running a task, a pack started ahead and
// waiting for its turn, the state server): each is in a directory only the
// run's user can enter. After the run, nothing of it is left in the
// temporary directory.
func TestPackSocketsArePrivate(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to make another local user and run a program as that user")
	}
	t.Parallel()
	uid, gid := otherUser(t)

	base, err := os.MkdirTemp("", "taskhost-sockets-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	tmp, meet := filepath.Join(base, "tmp"), filepath.Join(base, "meet")
	for _, d := range []string{tmp, meet} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The only barrier left for the other user is what the host makes.
	for d, mode := range map[string]os.FileMode{base: 0o755, tmp: 0o1777} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	dial := filepath.Join(base, "unixdial")
	if out, err := exec.Command("go", "build", "-o", dial, "./testdata/unixdial").CombinedOutput(); err != nil {
		t.Fatalf("build unixdial: %v\n%s", err, out)
	}

	path := job(t, fmt.Sprintf(`
job "private" { max_parallel = 1 }
task "waits" {
  pack = "testpack"
  task = "meet"
  args = { dir = %q, name = "waits", peer = "go", wait = "60s" }
}
task "next" {
  pack = "testpack"
  task = "pass"
}
`, meet))
	runs := filepath.Join(t.TempDir(), "runs")
	host := exec.Command("sh", "-c", `umask 000; exec "$@"`, "sh", filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path)
	host.Env = append(os.Environ(), "TMPDIR="+tmp)
	host.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out syncBuffer
	host.Stdout, host.Stderr = &out, &out
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = host.Wait(); close(done) }()
	t.Cleanup(func() { _ = host.Process.Kill(); <-done })

	// While the first task waits, its pack and the one started ahead for
	// the next task both serve.
	var socks []string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, err := os.Stat(filepath.Join(meet, "waits"))
		socks = sockets(tmp)
		packs := 0
		for _, s := range socks {
			if strings.HasPrefix(filepath.Base(s), "plugin") {
				packs++
			}
		}
		if err == nil && packs >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no task waiting with two pack sockets after 60 s (sockets: %v)\n%s", socks, out.String())
		}
	}
	cmd := exec.Command(dial, socks...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid}}
	res, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unixdial as uid %d: %v\n%s", uid, err, res)
	}
	lines := strings.Split(strings.TrimSpace(string(res)), "\n")
	if len(lines) != len(socks) {
		t.Fatalf("unixdial answered %d lines for %d sockets:\n%s", len(lines), len(socks), res)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "permission denied") {
			t.Errorf("another user, dialling a socket of the run: %s (want permission denied)", l)
		}
	}

	if err := os.WriteFile(filepath.Join(meet, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the host did not end within 60 s\n%s", out.String())
	}
	if code := host.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d\n%s", code, out.String())
	}
	left, _ := os.ReadDir(tmp)
	for _, e := range left {
		t.Errorf("left in the temporary directory after the run: %s", e.Name())
	}
}
