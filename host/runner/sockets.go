package runner

import "github.com/taskhost/taskhost/host/launch"

// A run's socket directory and supervisor are cleaned up at its end, or
// at once by launch.Quit (host/launch/leftovers.go).
var (
	makeSocketDir = launch.MakeSocketDir
	removeAtEnd   = launch.RemoveAtEnd
	abortAtQuit   = launch.AbortAtQuit
)
