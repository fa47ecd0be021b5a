package e2e

import (
	"archive/zip"
	"errors"
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

const accessJob = `
job "access" {}
task "hello" {
  pack = "testpack"
  task = "logs"
  args = { n = 3 }
}
task "kids" {
  pack = "testpack"
  task = "children"
}
`

// TestRunDirAccess: by default a run directory (and its archive) is its
// user's alone: nothing in it may be read or entered by anyone else, and
// another local user cannot read results.json or a task.log; with
// --group, the group's members can read them and others still cannot.
func TestRunDirAccess(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes other local users (useradd) and reads the run as them")
	}
	t.Parallel()
	const group = "taskhost-share"
	other := localUser(t, "taskhost-other", "")
	member := localUser(t, "taskhost-member", group)
	path := job(t, accessJob)

	// A place every user can pass through, unlike t.TempDir().
	top, err := os.MkdirTemp("", "taskhost-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(top) })
	if err := os.Chmod(top, 0o755); err != nil {
		t.Fatal(err)
	}

	run := func(t *testing.T, runs string, extra ...string) string {
		t.Helper()
		args := append([]string{"run", "--runs-dir", runs, "--archive", path}, extra...)
		cmd := exec.Command(filepath.Join(bin, "taskhost"), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("taskhost %v: %v\n%s", args, err, out)
		}
		r := runResult{runsDir: runs}
		dir := r.runDir(t)
		// Recovering rewrites results.json: it keeps the directory's mode.
		if out, err := exec.Command(filepath.Join(bin, "taskhost"), "results", "recover", dir).CombinedOutput(); err != nil {
			t.Fatalf("results recover: %v\n%s", err, out)
		}
		return dir
	}

	t.Run("private", func(t *testing.T) {
		t.Parallel()
		runs := filepath.Join(top, "private")
		dir := run(t, runs)
		checkModes(t, runs, 0o077)
		for _, p := range []string{"results.json", "tasks/hello/task.log", "report.html"} {
			if err := other.read(filepath.Join(dir, p)); err == nil {
				t.Errorf("another user read %s", p)
			}
		}
		if err := other.read(runs); err == nil {
			t.Error("another user listed the runs directory")
		}
	})

	t.Run("group", func(t *testing.T) {
		t.Parallel()
		runs := filepath.Join(top, "group")
		dir := run(t, runs, "--group", group)
		checkModes(t, runs, 0o027)
		zips, _ := filepath.Glob(filepath.Join(runs, "archive", "*", "*.zip"))
		if len(zips) != 1 {
			t.Fatalf("archives: %v", zips)
		}
		for _, p := range []string{filepath.Join(dir, "results.json"), filepath.Join(dir, "tasks", "hello", "task.log"), zips[0]} {
			if err := member.read(p); err != nil {
				t.Errorf("a member of the group cannot read %s: %v", p, err)
			}
			if err := other.read(p); err == nil {
				t.Errorf("another user read %s", p)
			}
		}
		gid := member.groupID(t, group)
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			st, _ := os.Lstat(p)
			if sys := st.Sys().(*syscall.Stat_t); int(sys.Gid) != gid {
				t.Errorf("%s belongs to group %d, want %d", p, sys.Gid, gid)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// checkModes fails for anything under runs (and in the archives' entries)
// whose mode has a bit of forbid.
func checkModes(t *testing.T, runs string, forbid os.FileMode) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(runs, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if st.Mode()&os.ModeSymlink == 0 && st.Mode().Perm()&forbid != 0 {
			t.Errorf("%s has mode %v", p, st.Mode())
		}
		n++
		if strings.HasSuffix(p, ".zip") {
			z, err := zip.OpenReader(p)
			if err != nil {
				return err
			}
			defer z.Close()
			for _, f := range z.File {
				if f.Mode().Perm()&forbid != 0 {
					t.Errorf("%s: %s has mode %v", p, f.Name, f.Mode())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 15 {
		t.Errorf("only %d entries under %s", n, runs)
	}
}

// localUserAccount is a local user to act as.
type localUserAccount struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// localUser returns the local user name, made (with its group, if any)
// when missing.
func localUser(t *testing.T, name, group string) localUserAccount {
	t.Helper()
	if group != "" {
		if _, err := user.LookupGroup(group); err != nil {
			useradd(t, "groupadd", group)
		}
	}
	if _, err := user.Lookup(name); err != nil {
		args := []string{"--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group"}
		if group != "" {
			args = append(args, "--groups", group)
		}
		useradd(t, "useradd", append(args, name)...)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	a := localUserAccount{name: name, uid: uint32(uid), gid: uint32(gid)}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		n, _ := strconv.Atoi(g)
		a.groups = append(a.groups, uint32(n))
	}
	return a
}

// useradd runs useradd or groupadd, again while another process holds
// the user database's lock (exit 10); one that finds the name taken by a
// test running at the same time (exit 9) is done.
func useradd(t *testing.T, tool string, args ...string) {
	t.Helper()
	for try := 0; ; try++ {
		out, err := exec.Command(tool, args...).CombinedOutput()
		var ee *exec.ExitError
		switch {
		case err == nil:
			return
		case errors.As(err, &ee) && ee.ExitCode() == 9:
			return
		case errors.As(err, &ee) && ee.ExitCode() == 10 && try < 100:
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
		}
	}
}

func (a localUserAccount) groupID(t *testing.T, name string) int {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.Atoi(g.Gid)
	return id
}

// read reads path (a file, or a directory's listing) as this user.
func (a localUserAccount) read(path string) error {
	cmd := exec.Command("cat", path)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		cmd = exec.Command("ls", path)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}
