package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Directories that runs (and descriptions of packs) remove when they end,
// kept here too so that a host that quits at once (a second Ctrl-C) can
// still remove them.
var leftovers sync.Map // path → struct{}

// RemoveAtEnd notes dir as one that Quit removes, and returns the
// function that removes it, to call when it is no longer needed.
func RemoveAtEnd(dir string) func() {
	leftovers.Store(dir, struct{}{})
	return func() {
		os.RemoveAll(dir)
		leftovers.Delete(dir)
	}
}

// Supervisors of the runs going on, which Quit kills at once.
var supervisors sync.Map // *Supervisor → struct{}

// AbortAtQuit notes s as a supervisor whose processes Quit kills, and
// returns the function that forgets it, to call once s is closed.
func AbortAtQuit(s *Supervisor) func() {
	supervisors.Store(s, struct{}{})
	return func() { supervisors.Delete(s) }
}

// Quit kills every process of the supervisors noted with AbortAtQuit, and
// removes the directories noted with RemoveAtEnd (the packs' socket
// directories); call it before exiting without waiting for the runs. A
// host killed with SIGKILL leaves the directories, and the cgroups with
// what is in them, for the next run to remove (MakeSocketDir,
// NewSupervisor).
func Quit() {
	supervisors.Range(func(k, _ any) bool {
		k.(*Supervisor).Abort()
		return true
	})
	leftovers.Range(func(k, _ any) bool {
		os.RemoveAll(k.(string))
		return true
	})
}

// socketDirPrefix starts the name of a run's socket directory, followed
// by the host's pid and a dash.
const socketDirPrefix = "taskhost-"

// MakeSocketDir makes a run's socket directory in parent (the temporary
// directory if empty), named after this host's pid, and first removes
// the ones that hosts no longer running left there (a host killed with
// SIGKILL cannot remove its own). A directory whose pid is alive, or
// that is not this user's, is left alone.
func MakeSocketDir(parent string) (string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	sweepSocketDirs(parent)
	return os.MkdirTemp(parent, fmt.Sprintf("%s%d-", socketDirPrefix, os.Getpid()))
}

func sweepSocketDirs(parent string) {
	matches, _ := filepath.Glob(filepath.Join(parent, socketDirPrefix+"*-*"))
	for _, dir := range matches {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(dir), socketDirPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 {
			continue
		}
		var st syscall.Stat_t
		if syscall.Lstat(dir, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != os.Getuid() {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue // alive (or not ours to signal): maybe a run going on
		}
		os.RemoveAll(dir)
	}
}
