package launch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The socket directories of hosts that are gone are removed when the
// next run makes its own; those of live hosts, and anything else, stay.
func TestSocketDirsOfDeadHostsAreRemoved(t *testing.T) {
	parent := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	mk := func(name string) string {
		p := filepath.Join(parent, name)
		if err := os.MkdirAll(filepath.Join(p, "plugin-dir1"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gone := mk(fmt.Sprintf("taskhost-%d-123", dead.Process.Pid))
	live := mk(fmt.Sprintf("taskhost-%d-456", os.Getppid()))
	other := mk("taskhost-e2e-789")
	mine, err := MakeSocketDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("the dead host's directory is still there (%v)", err)
	}
	for _, p := range []string{live, other, mine} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it kept", p, err)
		}
	}
	if want := fmt.Sprintf("taskhost-%d-", os.Getpid()); filepath.Base(mine)[:len(want)] != want {
		t.Errorf("socket directory %s is not named after this host's pid", mine)
	}
}
