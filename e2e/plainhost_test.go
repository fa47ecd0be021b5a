package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

var plain struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// plainHost returns the path of a taskhost binary built without the race
// detector, for the tests that bound the host's memory: under -race, the
// detector's shadow memory and bookkeeping make a process's RSS several
// times what it is (a flood that costs the plain host 50 to 110 MiB took
// the -race one to 120 to 340 MiB), so its peak RSS says nothing about
// the host's own. Without -race, that is the binary the others use.
func plainHost(t *testing.T) string {
	t.Helper()
	if !slices.Contains(buildFlags, "-race") {
		return filepath.Join(bin, "taskhost")
	}
	plain.once.Do(func() {
		dir := filepath.Join(bin, "plain")
		if plain.err = os.Mkdir(dir, 0o755); plain.err != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", dir+"/", "../cmd/taskhost")
		plain.out, plain.err = cmd.CombinedOutput()
		plain.path = filepath.Join(dir, "taskhost")
	})
	if plain.err != nil {
		t.Fatalf("build taskhost without -race: %v\n%s", plain.err, plain.out)
	}
	return plain.path
}
