package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// TestBadJobfiles checks that each mistake is a diagnostic naming the
// file and line, with exit code 2 and no run directory.
func TestBadJobfiles(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		body    string
		summary string
		line    int // line in body (the pack blocks come first; see job)
	}{
		"syntax error": {
			body:    "job \"x\" {}\ntask \"a\" {\n  pack = \"testpack\n}\n",
			summary: "Unterminated template string", line: 3,
		},
		"unknown attribute": {
			body:    "job \"x\" {}\ntask \"a\" {\n  pack = \"testpack\"\n  task = \"pass\"\n  retires = 3\n}\n",
			summary: "Unsupported argument", line: 5,
		},
		"unknown pack": {
			body:    "job \"x\" {}\ntask \"a\" {\n  pack = \"nope\"\n  task = \"pass\"\n}\n",
			summary: "Unknown pack", line: 3,
		},
		"unknown task in pack": {
			body:    "job \"x\" {}\ntask \"a\" {\n  pack = \"testpack\"\n  task = \"nosuch\"\n}\n",
			summary: "Unknown task", line: 4,
		},
		"cycle": {
			body: "job \"x\" {}\n" +
				"task \"a\" {\n  pack = \"testpack\"\n  task = \"pass\"\n  depends_on = [task.b]\n}\n" +
				"task \"b\" {\n  pack = \"testpack\"\n  task = \"pass\"\n  depends_on = [task.a]\n}\n",
			summary: "Dependency cycle", line: 5,
		},
		"missing variable": {
			body:    "variable \"device\" {}\njob \"x\" {}\ntask \"a\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { name = var.device }\n}\n",
			summary: "No value for required variable", line: 1,
		},
		"wrong argument type": {
			body:    "job \"x\" {}\ntask \"a\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { name = \"n\", times = \"many\" }\n}\n",
			summary: "Invalid argument value", line: 5,
		},
		"unknown argument": {
			body:    "job \"x\" {}\ntask \"a\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { name = \"n\", tmes = 2 }\n}\n",
			summary: "Unsupported argument", line: 5,
		},
		"missing argument": {
			body:    "job \"x\" {}\ntask \"a\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { times = 2 }\n}\n",
			summary: "Missing required argument", line: 5,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := job(t, tc.body)
			prefix := strings.Count(mustRead(t, path), "\n") - strings.Count(tc.body, "\n")
			r := taskhost(t, "run", path)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.summary) {
				t.Errorf("stderr lacks %q:\n%s", tc.summary, r.stderr)
			}
			where := path + ":" + itoa(prefix+tc.line) + ":"
			if !strings.Contains(r.stderr, where) || !strings.Contains(r.stderr, " | ") || !strings.Contains(r.stderr, "^") {
				t.Errorf("stderr does not name %q with a snippet:\n%s", where, r.stderr)
			}
			if _, err := os.Stat(r.runsDir); !os.IsNotExist(err) {
				t.Errorf("a bad jobfile made a runs directory: %v", err)
			}
			v := taskhost(t, "validate", path)
			if v.code != 2 || !strings.Contains(v.stderr, tc.summary) {
				t.Errorf("validate: exit %d, stderr:\n%s", v.code, v.stderr)
			}
		})
	}
}

func TestValidateGoodJobfile(t *testing.T) {
	t.Parallel()
	path := job(t, "job \"x\" {}\ntask \"a\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { name = \"n\", times = \"3\" }\n}\n")
	r := taskhost(t, "validate", path)
	if r.code != 0 || !strings.Contains(r.stdout, "is valid") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestUndeclaredVarFlag(t *testing.T) {
	t.Parallel()
	path := job(t, "job \"x\" {}\n")
	r := taskhost(t, "validate", path, "-var", "nope=1")
	if r.code != 2 || !strings.Contains(r.stderr, "nope") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestPacksDescribe(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "packs", "describe", filepath.Join(bin, "demo"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var d struct {
		Name             string `json:"name"`
		Version          string `json:"version"`
		ProtocolVersions []int  `json:"protocol_versions"`
		Tasks            []struct {
			Name string `json:"name"`
			Args []struct {
				Name     string          `json:"name"`
				Type     json.RawMessage `json:"type"`
				Required bool            `json:"required"`
			} `json:"args"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("%v:\n%s", err, r.stdout)
	}
	if d.Name != "demo" || d.Version == "" || len(d.ProtocolVersions) == 0 || len(d.Tasks) < 4 {
		t.Errorf("description: %+v", d)
	}
	if d.Tasks[0].Name != "hello" || d.Tasks[0].Args[0].Name != "name" || !d.Tasks[0].Args[0].Required || string(d.Tasks[0].Args[0].Type) != `"string"` {
		t.Errorf("hello's schema: %+v", d.Tasks[0])
	}
	// The pack run by hand prints the same description.
	out, err := exec.Command(filepath.Join(bin, "demo"), "describe").Output()
	if err != nil {
		t.Fatal(err)
	}
	var byHand map[string]any
	var viaHost map[string]any
	_ = json.Unmarshal(out, &byHand)
	_ = json.Unmarshal([]byte(r.stdout), &viaHost)
	if b1, _ := json.Marshal(byHand); string(b1) != func() string { b2, _ := json.Marshal(viaHost); return string(b2) }() {
		t.Errorf("describe by hand and via the host differ:\n%s\n%s", out, r.stdout)
	}

	notPack := taskhost(t, "packs", "describe", "/bin/true")
	if notPack.code == 0 || !strings.Contains(notPack.stderr, "not a taskhost pack") {
		t.Errorf("describing /bin/true: exit %d, stderr %s", notPack.code, notPack.stderr)
	}
}

func TestPackRunByHand(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(filepath.Join(bin, "demo"), "run", "checks", "--arg", "device=r9")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("want exit 1 (checks fails), got %v", err)
	}
	for _, want := range []string{"checks", "FAILED", "2.2 Gi0/2 is up", "Gi0/2 is down", "2.3.2 CRC errors", "PASSX", "SKIPPED", "BLOCKED"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	ok := exec.Command(filepath.Join(bin, "demo"), "run", "hello", "--arg", "name=x", "--arg", "times=2")
	if out, err := ok.CombinedOutput(); err != nil || !strings.Contains(string(out), "hello, x (2 of 2)") {
		t.Errorf("hello by hand: %v\n%s", err, out)
	}
}

// TestDemoJob runs the example job that the README points to.
func TestDemoJob(t *testing.T) {
	t.Parallel()
	// The demo jobfile names ../bin/…; run a copy next to the test binaries.
	src := mustRead(t, "../jobs/demo.hcl")
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "jobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jobs", "demo.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := taskhost(t, "run", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (the demo has failures on purpose)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	want := map[string]result.Result{
		"hello": result.Passed, "uname": result.Passed, "checks": result.Failed,
		"crash": result.Errored, "slow": result.Aborted, "report": result.Blocked,
	}
	for id, w := range want {
		if got := taskByID(t, f, id).Result.Value; got != w {
			t.Errorf("%s: %s, want %s", id, got, w)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa(i int) string { return strconv.Itoa(i) }
