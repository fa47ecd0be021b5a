package runner

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/taskhost/taskhost/host/plan"
)

// access says who may read a run directory: by default only the user who
// runs taskhost; with a group (Options.Group), the members of that group
// too, read-only. Nobody else may enter it. See docs/reliability.md, "Who
// can read a run".
type access struct {
	group string // as given, for messages
	gid   int    // -1: private
}

func newAccess(group string) (access, error) {
	if group == "" {
		return access{gid: -1}, nil
	}
	gid, err := LookupGroup(group)
	if err != nil {
		return access{}, err
	}
	return access{group: group, gid: gid}, nil
}

// LookupGroup returns the id of the group given by name or number.
func LookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		var unknown user.UnknownGroupError
		if id, nerr := strconv.Atoi(name); nerr == nil && id >= 0 {
			return id, nil
		} else if errors.As(err, &unknown) {
			return -1, fmt.Errorf("group %q: no such group", name)
		}
		return -1, fmt.Errorf("group %q: %w", name, err)
	}
	return strconv.Atoi(g.Gid)
}

func (a access) shared() bool { return a.gid >= 0 }

// dirMode is the mode of the run directory and the directories in it.
func (a access) dirMode() os.FileMode {
	if a.shared() {
		return 0o750 | os.ModeSetgid // new files and directories take its group
	}
	return 0o700
}

// fileMode is the mode of the files that the host writes in it.
func (a access) fileMode() os.FileMode {
	if a.shared() {
		return 0o640
	}
	return 0o600
}

// Warnings are what a run of plan with opts should say before it starts:
// sensitive values too short to be masked, and a group that cannot reach
// the runs directory. Execute logs them in job.log.
func Warnings(plan *plan.Plan, opts Options) []string {
	out := shortWarnings(plan.Job)
	if acc, err := newAccess(opts.Group); err == nil && acc.shared() {
		runs := cmp.Or(opts.RunsDir, "runs")
		for {
			if _, err := os.Stat(runs); err == nil || filepath.Dir(runs) == runs {
				break
			}
			runs = filepath.Dir(runs) // what is made below will be the group's
		}
		if w := acc.blocked(runs); w != "" {
			out = append(out, w)
		}
	}
	return out
}

// makeRuns makes the runs directory if it is missing: private, or the
// group's (so that its members can list the runs). A runs directory
// that exists is left as it is (Warnings says if the group cannot pass
// through it).
func (a access) makeRuns(runs string) error {
	if err := a.mkdirAll(runs); err != nil {
		return fmt.Errorf("runs directory: %w", err)
	}
	return nil
}

// blocked names the first directory from dir up that the group's members
// cannot pass through, if any.
func (a access) blocked(dir string) string {
	if !a.shared() {
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	for d := abs; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err == nil {
			sys, ok := st.Sys().(*syscall.Stat_t)
			through := st.Mode()&0o001 != 0 || (ok && int(sys.Gid) == a.gid && st.Mode()&0o010 != 0)
			if !through {
				return fmt.Sprintf("the members of group %s cannot enter %s (mode %04o): they will not reach the run directory until it lets them through (chmod o+x, or give it to the group with g+x)",
					a.group, d, st.Mode().Perm())
			}
		}
		if d == filepath.Dir(d) {
			return ""
		}
	}
}

// mkdirAll makes dir and its missing parents with the run's mode and
// group, whatever the umask.
func (a access) mkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := a.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return a.own(dir)
}

// own gives path the run's group and mode.
func (a access) own(path string) error {
	if a.shared() {
		if err := os.Chown(path, -1, a.gid); err != nil {
			return fmt.Errorf("give %s to group %s: %w (the user who runs taskhost must be a member of the group)", path, a.group, err)
		}
	}
	return os.Chmod(path, a.dirMode())
}

// writeFile writes a file of the run directory that the host makes.
func (a access) writeFile(path string, data []byte) error {
	f, err := a.create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// create makes (or empties) a file of the run directory for writing.
func (a access) create(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, a.fileMode())
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(a.fileMode()); err != nil { // whatever the umask
		f.Close()
		return nil, err
	}
	return f, nil
}

// tighten gives everything in the run directory dir the run's modes,
// once the run has ended: what the packs and their children wrote there
// was made with their umask. Directories get the run's mode; files keep
// their owner's bits, and the group gets their read and execute bits
// when the run is shared, nothing otherwise; nobody else gets anything.
// The hub's store (hub/) stays the owner's alone. Symbolic links and
// other special files are left alone (a chmod would follow a link).
func (a access) tighten(dir string) error {
	hub := filepath.Join(dir, "hub")
	var first error
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if first == nil && !errors.Is(err, fs.ErrNotExist) {
				first = err
			}
			return nil
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		shared := a.shared() && p != hub && !strings.HasPrefix(p, hub+string(filepath.Separator))
		var mode os.FileMode
		switch {
		case d.IsDir() && shared:
			mode = a.dirMode()
		case d.IsDir():
			mode = 0o700
		default:
			mode = info.Mode().Perm() & 0o700
			if shared {
				mode |= info.Mode().Perm() & 0o500 >> 3
			}
		}
		if shared {
			if sys, ok := info.Sys().(*syscall.Stat_t); ok && int(sys.Gid) != a.gid {
				if err := os.Lchown(p, -1, a.gid); err != nil && first == nil {
					first = err
				}
			}
		}
		if info.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSetuid|os.ModeSticky) != mode {
			if err := os.Chmod(p, mode); err != nil && first == nil && !errors.Is(err, fs.ErrNotExist) {
				first = err
			}
		}
		return nil
	})
	return first
}

// tighten gives the run directory its modes at the end of the run.
func (r *execution) tighten() {
	if err := r.access.tighten(r.dir); err != nil {
		r.log.Warn("the run directory's modes not all set", "error", err)
	}
}
