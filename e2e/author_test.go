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
// `taskhost packs new` prints it and docs/packs.md gives it: scaffold a
// pack in a directory outside this repository, then run the next steps
// that packs new printed, exactly as printed, in a shell (go mod tidy, go
// test, the release archive, install, lock, run). No module is fetched:
// the SDK is not published, so the scaffold must find it in the checkout
// this taskhost was built from, and every other module must already be in
// the module cache (GOPROXY=off). Then one byte of the installed binary
// changes, and the run is refused before any task starts.
func TestNewPackPath(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"go", "make", "tar", "sha256sum", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed: %v", tool, err)
		}
	}
	work := t.TempDir()
	packDir := filepath.Join(work, "greet")
	// The module is outside this repository: go must not see our go.mod
	// or a go.work, nor fetch anything, and GOFLAGS from the caller (such
	// as -race) must not change what the author's commands do. taskhost
	// is on the PATH, as `make install` puts it.
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "GOPROXY=off",
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
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

	out := step(work, filepath.Join(bin, "taskhost"), "packs", "new", "greet")
	steps := nextSteps(out)
	if len(steps) == 0 || steps[0] != "cd greet" {
		t.Fatalf("packs new printed no steps that start in its directory:\n%s", out)
	}
	// The steps, as typed, one shell: each must succeed.
	out = step(work, "sh", "-e", "-x", "-c", strings.Join(steps, "\n"))
	if !strings.Contains(out, "ok  \texample.com/greet") {
		t.Errorf("the steps did not test the pack:\n%s", out)
	}
	archive := filepath.Join(packDir, "dist", "greet_0.1.0_"+runtime.GOOS+"_"+runtime.GOARCH+".tar.gz")
	sums := mustRead(t, filepath.Join(packDir, "dist", "SHA256SUMS"))
	if !strings.Contains(sums, sha256Hex(t, archive)+"  "+filepath.Base(archive)) {
		t.Errorf("SHA256SUMS does not list the archive:\n%s", sums)
	}
	if !strings.Contains(out, "Installed greet 0.1.0") || !strings.Contains(out, "checked against SHA256SUMS") {
		t.Errorf("install:\n%s", out)
	}
	installed := filepath.Join(packDir, ".taskhost", "packs", "greet", "0.1.0", runtime.GOOS+"_"+runtime.GOARCH, "greet")
	pinned := sha256Hex(t, installed)
	if lock := mustRead(t, filepath.Join(packDir, "taskhost.lock.hcl")); !strings.Contains(lock, pinned) || !strings.Contains(lock, `"0.1.0"`) {
		t.Errorf("lock file:\n%s", lock)
	}
	if !strings.Contains(out, "hello") || !strings.Contains(out, "PASSED") {
		t.Errorf("the steps' run:\n%s", out)
	}

	// The user again, with the run's results to look at.
	r := packsCmd(t, packDir, "", "run", "--runs-dir", "runs-again", "example.hcl")
	r.runsDir = filepath.Join(packDir, "runs-again")
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

// TestNewPackSDK: --sdk names the checkout the pack takes the SDK from,
// and a directory that is not one is refused before anything is made.
func TestNewPackSDK(t *testing.T) {
	t.Parallel()
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	r := packsCmd(t, work, "", "packs", "new", "greet", "--sdk", work)
	if r.code != 2 || !strings.Contains(r.stderr, "--sdk "+work+": not a taskhost checkout") {
		t.Errorf("--sdk of no checkout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(work, "greet")); err == nil {
		t.Error("the refused packs new made its directory")
	}
	r = packsCmd(t, work, "", "packs", "new", "greet", "--sdk", repo)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if mod := mustRead(t, filepath.Join(work, "greet", "go.mod")); !strings.Contains(mod, "replace github.com/taskhost/taskhost => "+repo+"\n") {
		t.Errorf("go.mod:\n%s", mod)
	}
}

// nextSteps returns the commands that packs new printed as its next
// steps: the indented lines after "Next:".
func nextSteps(out string) []string {
	_, after, ok := strings.Cut(out, "Next:\n")
	if !ok {
		return nil
	}
	var steps []string
	for _, line := range strings.Split(after, "\n") {
		if cmd, ok := strings.CutPrefix(line, "    "); ok {
			steps = append(steps, strings.TrimSpace(cmd))
		} else if strings.TrimSpace(line) != "" {
			break
		}
	}
	return steps
}
