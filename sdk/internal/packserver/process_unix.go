//go:build unix

package packserver

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/taskhost/taskhost/sdk/internal/logfile"
)

// nullStdin makes fd 0 /dev/null.
func nullStdin() {
	if null, err := os.Open(os.DevNull); err == nil {
		_ = unix.Dup2(int(null.Fd()), 0)
		null.Close()
	}
}

// stderrTo makes fd 2 the log file lf, so that what the Go runtime writes
// on a crash lands there, and returns it as a file.
func stderrTo(lf *logfile.File) *os.File {
	_ = unix.Dup2(int(lf.File().Fd()), 2)
	return os.NewFile(2, "task.log")
}

// ownedByMe says whether st is this user's.
func ownedByMe(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(sys.Uid) == os.Geteuid()
}

// killGroup kills this process's group, this process too, when this
// process leads it.
func killGroup() {
	if syscall.Getpgrp() == os.Getpid() {
		_ = syscall.Kill(-os.Getpid(), syscall.SIGKILL)
	}
}
