package launch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroupRun is the cgroup v2 directory of one Supervisor, below this
// process's own cgroup; each launch gets a directory in it (a leaf).
type cgroupRun struct {
	dir string // in the cgroup2 file system
	rel string // its path in the hierarchy, as /proc/PID/cgroup names it
}

// cgroupLeaf is the cgroup of one launch.
type cgroupLeaf struct {
	dir string
	fd  int // the directory, open for CLONE_INTO_CGROUP; -1 once closed
}

// cgroupPrefix starts the name of a Supervisor's cgroup, followed by the
// host's pid and a dash, as the socket directories are named.
const cgroupPrefix = "taskhost-"

// makeRunCgroup makes the Supervisor's cgroup in this process's own
// cgroup, after killing and removing those left there by hosts that are
// gone (swept lists them).
func makeRunCgroup() (cg *cgroupRun, swept []string, err error) {
	off := os.Getenv(NoCgroupEnv) != ""
	parent, rel, err := ownCgroup()
	switch {
	case err != nil && off:
		return nil, nil, fmt.Errorf("turned off by %s", NoCgroupEnv)
	case err != nil:
		return nil, nil, err
	}
	// The cgroups of hosts that are gone are swept even when this host
	// makes none.
	swept = sweepCgroups(parent)
	if off {
		return nil, swept, fmt.Errorf("turned off by %s", NoCgroupEnv)
	}
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-", cgroupPrefix, os.Getpid()))
	if err != nil {
		return nil, swept, fmt.Errorf("cannot make a cgroup: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		os.Remove(dir)
		return nil, swept, fmt.Errorf("%s is not a cgroup: %w", dir, err)
	}
	return &cgroupRun{dir: dir, rel: path.Join(rel, filepath.Base(dir))}, swept, nil
}

// ownCgroup finds this process's cgroup v2: its directory in the mounted
// cgroup2 file system, and its path in the hierarchy.
func ownCgroup() (dir, rel string, err error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", "", fmt.Errorf("no cgroups here: %w", err)
	}
	found := false
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			rel, found = r, true
		}
	}
	if !found || !strings.HasPrefix(rel, "/") || strings.Contains(rel, "/..") {
		return "", "", errors.New("this process is in no cgroup v2 hierarchy it can see")
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional…] - fstype source super-options
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+1 >= len(fields) || fields[sep+1] != "cgroup2" {
			continue
		}
		root, mnt := unescapeMount(fields[3]), unescapeMount(fields[4])
		switch {
		case root == "/":
			return filepath.Join(mnt, rel), rel, nil
		case rel == root || strings.HasPrefix(rel, root+"/"):
			return filepath.Join(mnt, strings.TrimPrefix(rel, root)), rel, nil
		}
	}
	return "", "", errors.New("no cgroup2 file system is mounted where this process's cgroup can be reached")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// sweepCgroups kills and removes the Supervisor cgroups in parent whose
// host is gone.
func sweepCgroups(parent string) []string {
	matches, _ := filepath.Glob(filepath.Join(parent, cgroupPrefix+"*-*"))
	var swept []string
	for _, dir := range matches {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(dir), cgroupPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue // alive (or not ours to signal): maybe a run going on
		}
		cg := &cgroupRun{dir: dir}
		if cg.remove(time.Now().Add(2*time.Second)) == nil {
			swept = append(swept, dir)
		}
	}
	return swept
}

// leaf makes the cgroup of launch n and opens it for CLONE_INTO_CGROUP.
func (c *cgroupRun) leaf(n int64) (*cgroupLeaf, error) {
	dir := filepath.Join(c.dir, "p"+strconv.FormatInt(n, 10))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot make a pack's cgroup: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("cannot open a pack's cgroup: %w", err)
	}
	return &cgroupLeaf{dir: dir, fd: fd}, nil
}

// kill kills every process in the run's cgroup, at once.
func (c *cgroupRun) kill() { killCgroup(c.dir) }

// remove kills every process in the run's cgroup, waits until there is
// none, and removes the launches' cgroups and its own.
func (c *cgroupRun) remove(deadline time.Time) error {
	killCgroup(c.dir)
	if err := waitEmpty(c.dir, deadline); err != nil {
		return err
	}
	leaves, _ := os.ReadDir(c.dir)
	for _, l := range leaves {
		if l.IsDir() {
			_ = os.Remove(filepath.Join(c.dir, l.Name()))
		}
	}
	return os.Remove(c.dir)
}

// holds says whether process pid is in the run's cgroup.
func (c *cgroupRun) holds(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if r, ok := strings.CutPrefix(line, "0::"); ok {
			return r == c.rel || strings.HasPrefix(r, c.rel+"/")
		}
	}
	return false
}

// apply makes the process started with attr start in the leaf.
func (l *cgroupLeaf) apply(attr *syscall.SysProcAttr) {
	attr.UseCgroupFD, attr.CgroupFD = true, l.fd
}

// unapply undoes apply.
func (l *cgroupLeaf) unapply(attr *syscall.SysProcAttr) {
	attr.UseCgroupFD, attr.CgroupFD = false, 0
}

// path is where the run's cgroup is.
func (c *cgroupRun) path() string { return c.dir }

// started closes the directory once the process started in it.
func (l *cgroupLeaf) started() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		l.fd = -1
	}
}

func (l *cgroupLeaf) kill() { killCgroup(l.dir) }

// remove kills every process in the leaf, waits until there is none, and
// removes it.
func (l *cgroupLeaf) remove(deadline time.Time) error {
	l.started()
	killCgroup(l.dir)
	if err := waitEmpty(l.dir, deadline); err != nil {
		return err
	}
	if err := os.Remove(l.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// killCgroup kills every process in the cgroup dir and below: with
// cgroup.kill (Linux 5.14), else with a signal to each process it lists.
func killCgroup(dir string) {
	err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	if err == nil || errors.Is(err, os.ErrNotExist) && !dirExists(dir) {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	})
}

func dirExists(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}

// waitEmpty waits until no live process is left in the cgroup dir (its
// cgroup.events says "populated 0"), killing again as it waits, or until
// the deadline.
func waitEmpty(dir string, deadline time.Time) error {
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if errors.Is(err, os.ErrNotExist) {
			return nil // gone already
		}
		if err == nil && bytes.Contains(b, []byte("populated 0")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still in %s after they were killed", dir)
		}
		time.Sleep(5 * time.Millisecond)
		killCgroup(dir)
	}
}
