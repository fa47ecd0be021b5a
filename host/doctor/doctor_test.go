package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestChecks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	long := dir + "/" + strings.Repeat("d", 120)
	if err := os.WriteFile(filepath.Join(dir, LockFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	badLock, changed := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(badLock, LockFile), []byte("pack {"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A lock of a pack given by path, whose binary is not what was locked.
	if err := os.WriteFile(filepath.Join(changed, "pack"), []byte("changed"), 0o755); err != nil {
		t.Fatal(err)
	}
	lock := fmt.Sprintf("pack %q {\n  version  = \"1.0.0\"\n  path     = \"pack\"\n  platform = %q\n  sha256   = %q\n}\n",
		"p", runtime.GOOS+"_"+runtime.GOARCH, strings.Repeat("0", 64))
	if err := os.WriteFile(filepath.Join(changed, LockFile), []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		check      func() Check
		wantStatus Status
		wantDetail string
		wantFix    string
	}{
		"socket dir ok":      {func() Check { return checkSocketDir(dir) }, OK, "made a 0700 directory and a socket in it", ""},
		"socket dir missing": {func() Check { return checkSocketDir(filepath.Join(dir, "nope")) }, Failed, "no such file or directory", "create it, or set TMPDIR"},
		"socket dir a file":  {func() Check { return checkSocketDir(filepath.Join(dir, LockFile)) }, Failed, "is not a directory", "set TMPDIR"},
		"socket path ok":     {func() Check { return checkSocketPath("/tmp") }, OK, "70 of 107 bytes", ""},
		"socket path long":   {func() Check { return checkSocketPath(long) }, Failed, "longer than the 107 bytes", "use a shorter directory"},
		"free space ok":      {func() Check { return checkFreeSpace(filepath.Join(dir, "runs", "deeper"), 1) }, OK, "free", ""},
		"free space short":   {func() Check { return checkFreeSpace(dir, 1<<62) }, Failed, "a run needs at least", "free some space"},
		"lock absent":        {func() Check { return checkLock(filepath.Join(dir, "nope")) }, Skipped, "no lock file", ""},
		"lock empty":         {func() Check { return checkLock(dir) }, OK, "0 pack(s) match", ""},
		"lock bad":           {func() Check { return checkLock(badLock) }, Failed, "taskhost.lock.hcl", "taskhost packs lock"},
		"lock mismatch":      {func() Check { return checkLock(changed) }, Failed, "has SHA-256", "taskhost packs lock"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := tc.check()
			if c.Status != tc.wantStatus || !strings.Contains(c.Detail, tc.wantDetail) || !strings.Contains(c.Fix, tc.wantFix) {
				t.Errorf("got %s %q (fix %q); want %s with %q (fix %q)", c.Status, c.Detail, c.Fix, tc.wantStatus, tc.wantDetail, tc.wantFix)
			}
		})
	}
}

func TestRunAndWrite(t *testing.T) {
	t.Parallel()
	checks := Run(Config{SocketDir: t.TempDir(), RunsDir: filepath.Join(t.TempDir(), "runs"), LockDir: t.TempDir(), Hub: true})
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
		if c.Status == Failed {
			t.Errorf("%s failed: %s", c.Name, c.Detail)
		}
	}
	if got := strings.Join(names, ","); got != "socket directory,socket path length,runs directory,hub,lock file" {
		t.Errorf("checks = %s", got)
	}
	var b strings.Builder
	Write(&b, []Check{{Name: "x", Status: Failed, Detail: "broken", Fix: "mend it"}, {Name: "y", Status: OK, Detail: "fine", Fix: "unused"}})
	if want := "FAILED   x: broken\n         fix: mend it\nok       y: fine\n"; b.String() != want {
		t.Errorf("Write:\n%s\nwant:\n%s", b.String(), want)
	}
	if !AnyFailed([]Check{{Status: OK}, {Status: Failed}}) || AnyFailed([]Check{{Status: Skipped}}) {
		t.Error("AnyFailed")
	}
}
