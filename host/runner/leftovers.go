package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/taskhost/taskhost/host/launch"
)

// Directories a run removes when it ends, kept here too so that a host
// that quits at once (a second Ctrl-C) can still remove them.
var leftovers sync.Map // path → struct{}

func removeAtEnd(dir string) func() {
	leftovers.Store(dir, struct{}{})
	return func() {
		os.RemoveAll(dir)
		leftovers.Delete(dir)
	}
}

// Supervisors of the runs going on, which Quit kills at once.
var supervisors sync.Map // *launch.Supervisor → struct{}

func abortAtQuit(s *launch.Supervisor) func() {
	supervisors.Store(s, struct{}{})
	return func() { supervisors.Delete(s) }
}

// Quit kills every process of the runs in this process, and removes what
// the runs would have removed at their end (the packs' socket
// directories); call it before exiting without waiting for them. A host
// killed with SIGKILL leaves the directories, and the cgroups with what is
// in them, for the next run to remove (makeSocketDir,
// launch.NewSupervisor).
func Quit() {
	supervisors.Range(func(k, _ any) bool {
		k.(*launch.Supervisor).Abort()
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

// makeSocketDir makes a run's socket directory in parent (the temporary
// directory if empty), named after this host's pid, and first removes
// the ones that hosts no longer running left there (a host killed with
// SIGKILL cannot remove its own). A directory whose pid is alive, or
// that is not this user's, is left alone.
func makeSocketDir(parent string) (string, error) {
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
