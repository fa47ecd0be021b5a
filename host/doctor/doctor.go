package doctor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/packs"
)

// Status is the outcome of one check.
type Status int

// The outcomes of a check.
const (
	OK Status = iota
	Skipped
	Failed
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Skipped:
		return "skipped"
	}
	return "FAILED"
}

// Check is the result of one check.
type Check struct {
	Name   string
	Status Status
	// Detail says what was found; for a failed check, what is wrong.
	Detail string
	// Fix says how to put a failed check right.
	Fix string
}

// Config says what to check. The zero value checks the defaults.
type Config struct {
	// SocketDir is where packs make their Unix sockets; "" means what
	// they use: $PLUGIN_UNIX_SOCKET_DIR, else the temp directory ($TMPDIR,
	// else /tmp).
	SocketDir string
	// RunsDir is where run directories are made; "" means "runs".
	RunsDir string
	// LockDir is where taskhost.lock.hcl would be (the jobfile's
	// directory); "" means the current directory.
	LockDir string
	// MinFree is the free space the runs directory needs, in bytes; 0
	// means DefaultMinFree.
	MinFree uint64
	// NoLock leaves out the lock file check (run's preflight does: the
	// run checks every pack against the lock itself, with the jobfile's
	// lines).
	NoLock bool
	// Hub also starts and stops a hub (doctor does; run's preflight does
	// not, since the run starts one at once).
	Hub bool
}

// DefaultMinFree is the free space a run needs when Config does not say.
const DefaultMinFree = 100 << 20

// MaxSocketPath is the longest path a Unix socket may have on Linux:
// sun_path holds 108 bytes, the last a NUL.
const MaxSocketPath = 107

// socketName is the longest path a run gives a pack's socket below the
// socket directory: the run's own directory (os.MkdirTemp(dir,
// "taskhost-PID-"), with a pid of up to 7 digits), go-plugin's directory
// for the launch (os.MkdirTemp(…, "plugin-dir")), and the socket
// (os.CreateTemp(…, "plugin")), each with up to 10 random digits.
const socketName = "taskhost-4194304-0123456789/plugin-dir0123456789/plugin0123456789"

// LockFile is the name of the lock file of installed packs.
const LockFile = "taskhost.lock.hcl"

// SocketDir is the directory packs make their Unix sockets in.
func SocketDir() string {
	if d := os.Getenv("PLUGIN_UNIX_SOCKET_DIR"); d != "" {
		return d
	}
	return os.TempDir()
}

// Run runs the checks and returns their results, in order.
func Run(cfg Config) []Check {
	if cfg.SocketDir == "" {
		cfg.SocketDir = SocketDir()
	}
	if cfg.RunsDir == "" {
		cfg.RunsDir = "runs"
	}
	if cfg.MinFree == 0 {
		cfg.MinFree = DefaultMinFree
	}
	checks := []Check{checkSocketDir(cfg.SocketDir), checkSocketPath(cfg.SocketDir), checkFreeSpace(cfg.RunsDir, cfg.MinFree)}
	if cfg.Hub {
		checks = append(checks, checkHub(cfg.RunsDir))
	}
	if cfg.NoLock {
		return checks
	}
	return append(checks, checkLock(cfg.LockDir))
}

// AnyFailed reports whether any check failed.
func AnyFailed(checks []Check) bool {
	for _, c := range checks {
		if c.Status == Failed {
			return true
		}
	}
	return false
}

// Write prints one line per check, and for a failed one what to do.
func Write(w io.Writer, checks []Check) {
	for _, c := range checks {
		fmt.Fprintf(w, "%-8s %s: %s\n", c.Status, c.Name, c.Detail)
		if c.Status == Failed && c.Fix != "" {
			fmt.Fprintf(w, "         fix: %s\n", c.Fix)
		}
	}
}

const tmpHint = "set TMPDIR (or PLUGIN_UNIX_SOCKET_DIR) to a directory you own, e.g. `mkdir -m 700 -p $HOME/.cache/taskhost && export TMPDIR=$HOME/.cache/taskhost`"

// checkSocketDir makes a directory with mode 0700 in dir, as a private
// place for sockets must be, and a socket in it.
func checkSocketDir(dir string) Check {
	c := Check{Name: "socket directory"}
	st, err := os.Stat(dir)
	switch {
	case err != nil:
		c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("%s: %v", dir, unwrapPath(err)), "create it, or "+tmpHint
		return c
	case !st.IsDir():
		c.Status, c.Detail, c.Fix = Failed, dir+" is not a directory", tmpHint
		return c
	}
	sub, err := os.MkdirTemp(dir, "taskhost-doctor-")
	if err != nil {
		c.Status = Failed
		c.Detail = fmt.Sprintf("cannot create a directory in %s as %s: %v", dir, whoami(), unwrapPath(err))
		c.Fix = fmt.Sprintf("make %s writable (`chmod 1777 %s` for a shared temp directory), or %s", dir, dir, tmpHint)
		return c
	}
	defer os.RemoveAll(sub)
	if err := os.Chmod(sub, 0o700); err != nil {
		c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("cannot set mode 0700 on a directory in %s: %v", dir, unwrapPath(err)), tmpHint
		return c
	}
	if st, err := os.Stat(sub); err != nil || st.Mode().Perm() != 0o700 {
		c.Status = Failed
		c.Detail = fmt.Sprintf("a directory made in %s with mode 0700 has mode %v (a filesystem that ignores permissions?)", dir, st.Mode().Perm())
		c.Fix = "use a local filesystem: " + tmpHint
		return c
	}
	if len(filepath.Join(sub, "s")) <= MaxSocketPath {
		l, err := net.Listen("unix", filepath.Join(sub, "s"))
		if err != nil {
			c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("cannot make a Unix socket in %s: %v", dir, err), "use a local filesystem that supports sockets: "+tmpHint
			return c
		}
		l.Close()
	}
	c.Detail = fmt.Sprintf("%s (made a 0700 directory and a socket in it)", dir)
	return c
}

// checkSocketPath checks that the longest socket path a pack makes in dir
// fits in the kernel's limit.
func checkSocketPath(dir string) Check {
	c := Check{Name: "socket path length"}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	n := len(filepath.Join(abs, socketName))
	if n > MaxSocketPath {
		c.Status = Failed
		c.Detail = fmt.Sprintf("a pack's socket in %s would have a path of %d bytes, longer than the %d bytes a Unix socket path may have", abs, n, MaxSocketPath)
		c.Fix = "use a shorter directory: " + tmpHint + ", or TMPDIR=/tmp"
		return c
	}
	c.Detail = fmt.Sprintf("%d of %d bytes", n, MaxSocketPath)
	return c
}

// checkFreeSpace checks the free space of the filesystem the run
// directories go on, and that the runs directory can be written.
func checkFreeSpace(runs string, min uint64) Check {
	c := Check{Name: "runs directory"}
	dir := runs
	for {
		if _, err := os.Stat(dir); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	var fsst unix.Statfs_t
	if err := unix.Statfs(dir, &fsst); err != nil {
		c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("%s: %v", dir, err), "use --runs-dir with a directory that exists or can be made"
		return c
	}
	free := fsst.Bavail * uint64(fsst.Bsize)
	if free < min {
		c.Status = Failed
		c.Detail = fmt.Sprintf("only %s free on the filesystem of %s; a run needs at least %s", size(free), runs, size(min))
		c.Fix = fmt.Sprintf("free some space (old run directories in %s can go), or use --runs-dir on a filesystem with more room", runs)
		return c
	}
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		c.Status = Failed
		c.Detail = fmt.Sprintf("%s cannot be written by %s: %v", dir, whoami(), err)
		c.Fix = fmt.Sprintf("make %s writable, or use --runs-dir with a directory you can write", dir)
		return c
	}
	c.Detail = fmt.Sprintf("%s: %s free", runs, size(free))
	return c
}

// checkHub starts a hub with its store next to the runs, as a run does,
// and stops it.
func checkHub(runs string) Check {
	c := Check{Name: "hub"}
	base := runs
	if _, err := os.Stat(base); err != nil {
		base = ""
	}
	dir, err := os.MkdirTemp(base, ".taskhost-doctor-hub-")
	if err != nil {
		c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("no directory for the hub's store: %v", err), "make the runs directory writable"
		return c
	}
	defer os.RemoveAll(dir)
	h, err := hub.Start(hub.Config{StoreDir: dir})
	if err != nil {
		c.Status, c.Detail = Failed, fmt.Sprintf("the embedded NATS hub did not start: %v", err)
		c.Fix = "the hub listens on a random loopback TCP port: check that 127.0.0.1 is up and that local ports may be opened"
		return c
	}
	c.Detail = "started and stopped at " + h.URL()
	h.Close()
	return c
}

// checkLock checks the installed packs against the lock file. It is
// skipped when there is none.
func checkLock(dir string) Check {
	c := Check{Name: "lock file", Status: Skipped}
	path := filepath.Join(dir, LockFile)
	_, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Detail = "no lock file (" + path + ")"
		return c
	case err != nil:
		c.Detail = fmt.Sprintf("cannot look for %s: %v", path, unwrapPath(err))
		return c
	}
	relock := "if the change is meant, run `taskhost packs lock JOBFILE` again; otherwise reinstall the pinned pack"
	lock, diags := packs.ReadLock(path)
	if diags.HasErrors() {
		c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("%s: %v", path, diags), "correct it, or make it again with `taskhost packs lock JOBFILE`"
		return c
	}
	for _, e := range lock.Packs {
		if e.Platform != packs.Platform() {
			c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("pack %q is locked for %s, this machine is %s", e.Name, e.Platform, packs.Platform()), "run `taskhost packs lock JOBFILE` on this machine"
			return c
		}
		bin := filepath.Join(dir, e.Path)
		if e.Path == "" {
			in, err := packs.Dir{From: dir}.Find(e.Name, e.Version)
			if err != nil {
				c.Status, c.Detail, c.Fix = Failed, err.Error(), fmt.Sprintf("install %s %s (`taskhost packs install`), or %s", e.Name, e.Version, relock)
				return c
			}
			bin = in.Path
		}
		sum, err := launch.HexSHA256(bin)
		if err != nil {
			c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("pack %q: %v", e.Name, unwrapPath(err)), relock
			return c
		}
		if sum != e.SHA256 {
			c.Status, c.Detail, c.Fix = Failed, fmt.Sprintf("pack %q (%s) has SHA-256 %s, locked %s", e.Name, bin, sum, e.SHA256), relock
			return c
		}
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%d pack(s) match %s", len(lock.Packs), path)
	return c
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func whoami() string {
	if u, err := user.Current(); err == nil {
		return fmt.Sprintf("user %s (uid %s)", u.Username, u.Uid)
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

func size(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return strings.TrimSpace(fmt.Sprintf("%d bytes", b))
}
