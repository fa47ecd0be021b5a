package runner

import (
	"os"
	"sync"
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

// Quit removes what the runs in this process would have removed at
// their end (the packs' socket directories); call it before exiting
// without waiting for them. A host killed with SIGKILL leaves them.
func Quit() {
	leftovers.Range(func(k, _ any) bool {
		os.RemoveAll(k.(string))
		return true
	})
}
