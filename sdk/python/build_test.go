package python_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/python"
)

// unittest runs Python test modules with Debian's python3 in this
// directory, with env added to the environment.
func unittest(t *testing.T, env []string, modules ...string) {
	t.Helper()
	if _, err := exec.LookPath(python3); err != nil {
		t.Fatalf("%s: %v (install Debian's python3: scripts/test-deps)", python3, err)
	}
	cmd := exec.Command(python3, append([]string{"-m", "unittest", "-v"}, modules...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s\n%v", out, err)
	}
	if strings.Contains(string(out), "skipped") {
		t.Fatalf("a test was skipped:\n%s", out)
	}
	t.Logf("%s", out)
}

// TestBuild runs the unit tests of python3 -m taskhost build.
func TestBuild(t *testing.T) {
	unittest(t, nil, "tests.test_build")
}

// TestSdktest runs taskhost.sdktest's tests against a real taskhost and
// the Go demo pack (the harness runs any pack binary).
func TestSdktest(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/taskhost", "../../plugins/demo")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	unittest(t, []string{"TASKHOST=" + filepath.Join(dir, "taskhost"), "SDKTEST_GO_PACK=" + filepath.Join(dir, "demo")}, "tests.test_sdktest")
}

// TestSDKEmbedded checks that the embedded SDK is the package's modules,
// which packs new vendors into a new pack.
func TestSDKEmbedded(t *testing.T) {
	names, err := fs.Glob(python.SDK(), "taskhost/*.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"taskhost/__main__.py", "taskhost/_build.py", "taskhost/_wire.py", "taskhost/sdktest.py"} {
		if !slices.Contains(names, want) {
			t.Errorf("embedded SDK lacks %s: %v", want, names)
		}
	}
}
