package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// taskhostStdin runs the taskhost binary with stdin as its standard input.
func taskhostStdin(t *testing.T, stdin string, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "taskhost"), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// TestFmtStdinDiffRecursive: fmt - formats standard input to standard
// output; -diff shows what would change as a unified diff; -recursive
// descends into directories, as terraform fmt's.
func TestFmtStdinDiffRecursive(t *testing.T) {
	t.Parallel()
	ugly := "job \"x\" {\n      max_parallel=2\n}\n"
	pretty := "job \"x\" {\n  max_parallel = 2\n}\n"

	if r := taskhostStdin(t, ugly, "fmt", "-"); r.code != 0 || r.stdout != pretty {
		t.Errorf("fmt -: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := taskhostStdin(t, pretty, "fmt", "-check", "-"); r.code != 0 || r.stdout != pretty {
		t.Errorf("fmt -check - of a formatted source: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := taskhostStdin(t, ugly, "fmt", "-check", "-"); r.code != 1 {
		t.Errorf("fmt -check - of an unformatted source: exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	if r := taskhostStdin(t, "job \"x\" {\n  a = \n", "fmt", "-"); r.code != 2 || !strings.Contains(r.stderr, "<stdin>:2") || r.stdout != "" {
		t.Errorf("fmt - of a broken source: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	dir := t.TempDir()
	top := filepath.Join(dir, "top.hcl")
	deep := filepath.Join(dir, "sub", "deeper", "deep.hcl")
	if err := os.MkdirAll(filepath.Dir(deep), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{top, deep} {
		if err := os.WriteFile(p, []byte(ugly), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	r := taskhost(t, "fmt", "-check", "-diff", dir)
	if r.code != 1 {
		t.Errorf("fmt -check -diff: exit %d, want 1", r.code)
	}
	for _, want := range []string{"--- " + top, "+++ " + top, "-      max_parallel=2", "+  max_parallel = 2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("fmt -check -diff: no %q in\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, deep) {
		t.Errorf("fmt without -recursive looked in a subdirectory:\n%s", r.stdout)
	}
	if got := mustRead(t, top); got != ugly {
		t.Errorf("fmt -check -diff changed the file")
	}

	r = taskhost(t, "fmt", "-recursive", dir)
	if r.code != 0 || !strings.Contains(r.stdout, top) || !strings.Contains(r.stdout, deep) {
		t.Fatalf("fmt -recursive: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{top, deep} {
		if got := mustRead(t, p); got != pretty {
			t.Errorf("fmt -recursive left %s as\n%s", p, got)
		}
	}
	if r := taskhost(t, "fmt", "-check", "-recursive", dir); r.code != 0 || r.stdout != "" {
		t.Errorf("fmt -check -recursive after fmt: exit %d, stdout %q", r.code, r.stdout)
	}
}

// validateJSON is the shape of validate -json's output, as Terraform's.
type validateJSON struct {
	FormatVersion string `json:"format_version"`
	Valid         bool   `json:"valid"`
	ErrorCount    *int   `json:"error_count"`
	WarningCount  *int   `json:"warning_count"`
	Diagnostics   []struct {
		Severity string `json:"severity"`
		Summary  string `json:"summary"`
		Detail   string `json:"detail"`
		Range    *struct {
			Filename string `json:"filename"`
			Start    struct{ Line, Column, Byte int }
			End      struct{ Line, Column, Byte int }
		} `json:"range"`
		Snippet *struct {
			Context              *string `json:"context"`
			Code                 string  `json:"code"`
			StartLine            int     `json:"start_line"`
			HighlightStartOffset int     `json:"highlight_start_offset"`
			HighlightEndOffset   int     `json:"highlight_end_offset"`
		} `json:"snippet"`
	} `json:"diagnostics"`
}

// TestValidateJSON: validate -json prints Terraform's machine-readable
// diagnostics on stdout, for a valid jobfile and for one with a mistake.
func TestValidateJSON(t *testing.T) {
	t.Parallel()
	good := job(t, `job "j" {}
task "hi" {
  pack = "demo"
  task = "hello"
  args = { name = "x" }
}
`)
	r := taskhost(t, "validate", "-json", good)
	var v validateJSON
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("validate -json of a valid jobfile: exit %d, %v\nstdout %s\nstderr %s", r.code, err, r.stdout, r.stderr)
	}
	if !v.Valid || v.ErrorCount == nil || *v.ErrorCount != 0 || v.WarningCount == nil || *v.WarningCount != 0 || v.Diagnostics == nil || len(v.Diagnostics) != 0 || v.FormatVersion != "1.0" {
		t.Errorf("validate -json of a valid jobfile: %s", r.stdout)
	}

	bad := job(t, `job "j" {}
task "hi" {
  pack = "demo"
  task = "hello"
  args = { name = "x", tmies = 2 }
}
`)
	r = taskhost(t, "validate", "-json", bad)
	v = validateJSON{}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 2 {
		t.Fatalf("validate -json of a bad jobfile: exit %d, %v\nstdout %s\nstderr %s", r.code, err, r.stdout, r.stderr)
	}
	if v.Valid || v.ErrorCount == nil || *v.ErrorCount != 1 || len(v.Diagnostics) != 1 {
		t.Fatalf("validate -json of a bad jobfile: %s", r.stdout)
	}
	d := v.Diagnostics[0]
	if d.Severity != "error" || d.Summary == "" || !strings.Contains(d.Detail, `"times"`) {
		t.Errorf("diagnostic: %+v", d)
	}
	if d.Range == nil || d.Range.Filename != bad || d.Range.Start.Line != 9 || d.Range.Start.Column != 32 || d.Range.Start.Byte == 0 || d.Range.End.Column <= d.Range.Start.Column {
		t.Errorf("range: %+v", d.Range)
	}
	if s := d.Snippet; s == nil || s.Context == nil || *s.Context != `task "hi"` || s.Code != `  args = { name = "x", tmies = 2 }` || s.StartLine != 9 ||
		s.Code[s.HighlightStartOffset:s.HighlightEndOffset] != "2" {
		t.Errorf("snippet: %s", r.stdout)
	}

	// A bad command line is a diagnostic, with nothing on stderr.
	r = taskhost(t, "validate", "-json", "-var", "novalue", good)
	v = validateJSON{}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 2 || v.Valid || len(v.Diagnostics) != 1 ||
		v.Diagnostics[0].Summary != "Invalid command line" || !strings.Contains(v.Diagnostics[0].Detail, "NAME=VALUE") || r.stderr != "" {
		t.Errorf("validate -json with a bad -var: exit %d, %v\nstdout %s\nstderr %s", r.code, err, r.stdout, r.stderr)
	}

	// A jobfile that cannot be read is a diagnostic too.
	r = taskhost(t, "validate", "-json", filepath.Join(t.TempDir(), "none.hcl"))
	v = validateJSON{}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 2 || v.Valid || len(v.Diagnostics) == 0 {
		t.Errorf("validate -json of a missing jobfile: exit %d, %v\nstdout %s\nstderr %s", r.code, err, r.stdout, r.stderr)
	}
}

// TestTestbedJob validates and runs the example jobfile that reads a pyATS
// testbed with yamldecode and makes a task for each of its devices.
func TestTestbedJob(t *testing.T) {
	t.Parallel()
	// The jobfile names ../bin/…; run a copy next to the test binaries.
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "jobs"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"testbed.hcl", "testbed.yaml"} {
		if err := os.WriteFile(filepath.Join(dir, "jobs", name), []byte(mustRead(t, "../jobs/"+name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "jobs", "testbed.hcl")
	if r := taskhost(t, "fmt", "-check", path); r.code != 0 {
		t.Errorf("fmt -check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := taskhost(t, "validate", path); r.code != 0 {
		t.Fatalf("validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := taskhost(t, "run", path)
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	for _, id := range []string{`lookup["r1"]`, `lookup["r2"]`, `lookup["sw1"]`, `hello["r1"]`, `hello["r2"]`, `hello["sw1"]`} {
		if got := taskByID(t, f, id).Result.Value; got != result.Passed {
			t.Errorf("%s: %s, want Passed", id, got)
		}
	}
	if n := len(f.Report.Tasks); n != 6 {
		t.Errorf("%d tasks, want 6", n)
	}
}
