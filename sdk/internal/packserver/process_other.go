//go:build !unix

package packserver

import (
	"os"

	"github.com/taskhost/taskhost/sdk/internal/logfile"
)

// nullStdin makes os.Stdin /dev/null (NUL): there are no file descriptors
// to replace here.
func nullStdin() {
	if null, err := os.Open(os.DevNull); err == nil {
		os.Stdin = null
	}
}

// stderrTo returns the log file to make os.Stdout and os.Stderr; what the
// Go runtime writes on a crash still goes to the process's standard error,
// which the host copies into the task's log.
func stderrTo(lf *logfile.File) *os.File { return lf.File() }

// ownedByMe is true: the mode bits privateDir checks are all this system
// tells.
func ownedByMe(os.FileInfo) bool { return true }

// killGroup does nothing: there are no process groups to kill; the host
// ends the pack's processes itself.
func killGroup() {}
