package packs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
)

func TestLockRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), LockFileName)
	want := &Lock{Packs: []*Locked{
		{Name: "net", Version: "1.2.0", Constraints: ">= 1.2, < 2.0", Platform: "linux_amd64", SHA256: "ab"},
		{Name: "local", Version: "0.1.0", Path: "bin/local", Platform: "linux_amd64", SHA256: "cd"},
	}}
	if err := want.Write(path); err != nil {
		t.Fatal(err)
	}
	got, diags := ReadLock(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Written sorted by name.
	want.Packs[0], want.Packs[1] = want.Packs[1], want.Packs[0]
	if d := cmp.Diff(want, got, cmpopts.IgnoreTypes(hcl.Range{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if l, diags := ReadLock(filepath.Join(t.TempDir(), "none.hcl")); l != nil || diags != nil {
		t.Errorf("a missing lock file: %v %v", l, diags)
	}
	if err := os.WriteFile(path, []byte(`pack "x" { version = "1" }`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, diags := ReadLock(path); !diags.HasErrors() {
		t.Error("a lock entry without platform and sha256 was read")
	}
}

func TestEntryPath(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"pack": true, "dir/pack": true, "dir/": true, "./pack": true,
		"../pack": false, "a/../../pack": false, "/etc/passwd": false, "a\\..\\b": false, "": false, "..": false,
	} {
		_, err := entryPath("/x", name)
		if (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", name, err, ok)
		}
		if err != nil && !errors.Is(err, ErrUnsafeArchive) {
			t.Errorf("%q: %v is not ErrUnsafeArchive", name, err)
		}
	}
}

func TestReadSums(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), SumsFile)
	if err := os.WriteFile(path, []byte("AA11  net_1.0.0_linux_amd64.tar.gz\nbb22 *net.zip\n\ngarbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"net_1.0.0_linux_amd64.tar.gz": "aa11", "net.zip": "bb22"} {
		if got, err := readSums(path, name); err != nil || got != want {
			t.Errorf("%s: %q %v, want %q", name, got, err, want)
		}
	}
	if _, err := readSums(path, "other"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unlisted: %v", err)
	}
}
