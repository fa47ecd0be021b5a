package runner

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestReserveTakesRoom: the room a run keeps for its record is disk taken,
// not a sparse file, and is given back by release.
func TestReserveTakesRoom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := keepReserve(dir, hclog.NewNullLogger())
	st, err := os.Stat(filepath.Join(dir, reserveName))
	if err != nil {
		t.Fatal(err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Blocks*512 < reserveBytes {
		t.Errorf("the reserve takes %d bytes of disk, want %d", sys.Blocks*512, reserveBytes)
	}
	r.release()
	if _, err := os.Stat(filepath.Join(dir, reserveName)); !os.IsNotExist(err) {
		t.Errorf("the reserve is still there after release: %v", err)
	}
}
