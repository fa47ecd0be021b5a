package launch

import (
	"os"
	"path/filepath"
	"testing"
)

// TestVerifiedBefore: an earlier check of a pinned binary is trusted only
// for the same, unchanged, settled file and the same pinned hash.
func TestVerifiedBefore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pack")
	if err := os.WriteFile(path, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum, other := []byte("sum"), []byte("other")
	check := func(settledCheck bool) {
		id, ok := statID(path)
		if !ok {
			t.Fatal("stat failed")
		}
		id.checkedAt = id.ctime
		if settledCheck {
			id.checkedAt += 2 * int64(settled)
		}
		remember(path, id, sum)
	}

	check(true)
	if !verifiedBefore(path, sum) {
		t.Error("an unchanged, settled file checked before is not trusted")
	}
	if verifiedBefore(path, other) {
		t.Error("a check against another hash is trusted")
	}
	if verifiedBefore(filepath.Join(filepath.Dir(path), "another"), sum) {
		t.Error("a file never checked is trusted")
	}

	check(false)
	if verifiedBefore(path, sum) {
		t.Error("a check made within a second of the file's last change is trusted")
	}

	check(true)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("!"))
	f.Close()
	if verifiedBefore(path, sum) {
		t.Error("a file written after its check is trusted")
	}

	check(true)
	repl := path + ".new"
	if err := os.WriteFile(repl, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(repl, path); err != nil {
		t.Fatal(err)
	}
	if verifiedBefore(path, sum) {
		t.Error("a file replaced after its check is trusted")
	}
}
