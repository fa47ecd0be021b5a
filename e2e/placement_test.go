package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlacement: the real binary refuses a task placed off the host, in
// validate and run, with the error on the placement block's line and no
// run directory; runs a jobfile whose placement is local; and formats the
// placement block.
func TestPlacement(t *testing.T) {
	t.Parallel()
	body := "job \"x\" {\n  placement { labels = { lab = \"sjc\" } }\n}\n" +
		"task \"a\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { name = \"n\" }\n}\n" +
		"task \"b\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { name = \"n\" }\n  placement { local = true }\n}\n"
	path := job(t, body)
	prefix := strings.Count(mustRead(t, path), "\n") - strings.Count(body, "\n")
	for _, cmd := range []string{"validate", "run"} {
		r := taskhost(t, cmd, path)
		where := path + ":" + itoa(prefix+2) + ":3"
		if r.code != 2 || !strings.Contains(r.stderr, "No agent for this placement") || !strings.Contains(r.stderr, where) ||
			!strings.Contains(r.stderr, "this run serves no agents. Start it with --listen") ||
			!strings.Contains(r.stderr, "applies to task a,") {
			t.Errorf("%s: exit %d, want 2 and the error at %s; stderr:\n%s", cmd, r.code, where, r.stderr)
		}
		if _, err := os.Stat(r.runsDir); !os.IsNotExist(err) {
			t.Errorf("%s: a refused placement made a runs directory: %v", cmd, err)
		}
	}

	local := job(t, "job \"x\" {\n  placement { local = true }\n}\n"+
		"task \"a\" {\n  pack = \"demo\"\n  task = \"hello\"\n  args = { name = \"n\" }\n}\n")
	if r := taskhost(t, "run", local); r.code != 0 {
		t.Errorf("run of a local placement: exit %d\nstderr:\n%s", r.code, r.stderr)
	}

	ugly := "job \"x\" {\nplacement {\n      labels={lab=\"sjc\",os   = \"linux\"}\n  local = false\n}\n}\n"
	pretty := "job \"x\" {\n  placement {\n    labels = { lab = \"sjc\", os = \"linux\" }\n    local  = false\n  }\n}\n"
	file := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(file, []byte(ugly), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := taskhost(t, "fmt", file); r.code != 0 {
		t.Fatalf("fmt: exit %d, stderr %s", r.code, r.stderr)
	}
	if got := mustRead(t, file); got != pretty {
		t.Errorf("fmt wrote:\n%s\nwant:\n%s", got, pretty)
	}
}
