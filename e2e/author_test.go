package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// TestNewPackPath takes the whole path of a pack author and its user, as
// docs/packs.md gives it: scaffold a pack in a directory outside this
// repository, point its go.mod at this checkout, go test it, build its
// release archive, install it, lock it, and run the jobfile that uses it.
// Then one byte of the installed binary changes, and the run is refused
// before any task starts.
func TestNewPackPath(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"go", "make", "tar", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	packDir := filepath.Join(work, "greet")
	// The module is outside this repository: go must not see our go.mod
	// or a go.work, and GOFLAGS from the caller (such as -race) must not
	// change what the author's commands do.
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false")
	step := func(dir, name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	taskhostBin := filepath.Join(bin, "taskhost")

	out := step(work, taskhostBin, "packs", "new", "greet", "--dir", packDir)
	if !strings.Contains(out, "make dist") {
		t.Errorf("packs new says:\n%s", out)
	}
	step(packDir, "go", "mod", "edit", "-replace", "github.com/taskhost/taskhost="+repo)
	step(packDir, "go", "mod", "tidy")
	out = step(packDir, "make", "test")
	if !strings.Contains(out, "ok  \texample.com/greet") {
		t.Errorf("make test:\n%s", out)
	}
	step(packDir, "make", "dist")
	archive := filepath.Join(packDir, "dist", "greet_0.1.0_"+runtime.GOOS+"_"+runtime.GOARCH+".tar.gz")
	sums := mustRead(t, filepath.Join(packDir, "dist", "SHA256SUMS"))
	if !strings.Contains(sums, sha256Hex(t, archive)+"  "+filepath.Base(archive)) {
		t.Errorf("SHA256SUMS does not list the archive:\n%s", sums)
	}

	// The user: install into the project's .taskhost/packs, lock, run.
	out = step(packDir, taskhostBin, "packs", "install", archive)
	if !strings.Contains(out, "Installed greet 0.1.0") || !strings.Contains(out, "checked against SHA256SUMS") {
		t.Errorf("install:\n%s", out)
	}
	installed := filepath.Join(packDir, ".taskhost", "packs", "greet", "0.1.0", runtime.GOOS+"_"+runtime.GOARCH, "greet")
	pinned := sha256Hex(t, installed)
	step(packDir, taskhostBin, "packs", "lock", "example.hcl")
	if lock := mustRead(t, filepath.Join(packDir, "taskhost.lock.hcl")); !strings.Contains(lock, pinned) || !strings.Contains(lock, `"0.1.0"`) {
		t.Errorf("lock file:\n%s", lock)
	}
	r := packsCmd(t, packDir, "", "run", "--runs-dir", "runs", "example.hcl")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	task := taskByID(t, r.results(t), "hello")
	if task.Result.Value != result.Passed {
		t.Errorf("hello: %s %q", task.Result.Value, task.Result.Reason)
	}
	greet := task.Sections
	if len(greet) != 2 || greet[1].Name != "greet" || !strings.Contains(string(greet[1].Result.Data), "hello, world") {
		t.Errorf("hello's steps: %+v", greet)
	}

	// One byte of the installed binary changes: the run is refused.
	flipByte(t, installed)
	r = packsCmd(t, packDir, "", "run", "--runs-dir", "runs-refused", "example.hcl")
	if r.code != 2 {
		t.Errorf("run of a changed binary: exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{`The pack "greet"`, pinned, sha256Hex(t, installed), "does not match the lock"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("the refusal does not say %q:\n%s", w, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(packDir, "runs-refused")); err == nil {
		t.Error("the refused run made a run directory")
	}
}
