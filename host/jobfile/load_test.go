package jobfile_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

var update = flag.Bool("update", false, "rewrite the testdata/bad/*.golden files")

// ctyComparer compares cty values and types by their content.
var ctyComparer = cmp.Options{
	cmp.Comparer(func(a, b cty.Value) bool { return a.RawEquals(b) }),
	cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) }),
}

// ignoreRanges leaves ranges out of Job comparisons; TestLoadRanges checks them.
var ignoreRanges = cmpopts.IgnoreTypes(hcl.Range{}, map[string]hcl.Range{})

func TestLoad(t *testing.T) {
	t.Parallel()

	file, err := filepath.Abs("testdata/good.hcl")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	demoPath, err := filepath.Abs("bin/demo")
	if err != nil {
		t.Fatal(err)
	}

	// want returns the expected job for the given variable values.
	want := func(vars map[string]cty.Value) *jobfile.Job {
		return &jobfile.Job{
			Name:        "demo",
			MaxParallel: 4,
			Timeout:     10 * time.Minute,
			File:        file,
			Source:      src,
			Variables:   vars,
			Packs: []*jobfile.Pack{
				{Name: "demo", Path: demoPath},
				{Name: "tools", Path: "/opt/taskhost/bin/tools"},
			},
			Tasks: []*jobfile.Task{
				{
					ID:   "setup",
					Name: "setup",
					Pack: "tools",
					Task: "prepare",
					Args: map[string]cty.Value{},
				},
				{
					ID:   "hello",
					Name: "hello",
					Pack: "demo",
					Task: "hello",
					Args: map[string]cty.Value{
						"name":  cty.StringVal(strings.ToUpper(vars["target"].AsString())),
						"count": vars["count"],
						"ports": vars["ports"],
						"mode":  vars["mode"],
					},
					DependsOn: []string{"setup"},
					Timeout:   30 * time.Second,
				},
				{
					ID:        "check-2",
					Name:      "check-2",
					Pack:      "demo",
					Task:      "check",
					Args:      map[string]cty.Value{},
					DependsOn: []string{"hello", "setup"},
				},
			},
		}
	}

	tests := map[string]struct {
		vars map[string]string
		want map[string]cty.Value
	}{
		"defaults": {
			vars: map[string]string{"mode": "fast"},
			want: map[string]cty.Value{
				"target": cty.StringVal("localhost"),
				"count":  cty.NumberIntVal(1),
				"ports":  cty.ListVal([]cty.Value{cty.NumberIntVal(22)}),
				"mode":   cty.StringVal("fast"),
			},
		},
		"overrides": {
			vars: map[string]string{
				"mode":   "[1, 2]", // untyped, so taken as a string
				"target": "router1",
				"count":  "3",
				"ports":  `[22, "80"]`,
			},
			want: map[string]cty.Value{
				"target": cty.StringVal("router1"),
				"count":  cty.NumberIntVal(3),
				"ports":  cty.ListVal([]cty.Value{cty.NumberIntVal(22), cty.NumberIntVal(80)}),
				"mode":   cty.StringVal("[1, 2]"),
			},
		},
		"empty list": {
			vars: map[string]string{"mode": "x", "ports": "[]"},
			want: map[string]cty.Value{
				"target": cty.StringVal("localhost"),
				"count":  cty.NumberIntVal(1),
				"ports":  cty.ListValEmpty(cty.Number),
				"mode":   cty.StringVal("x"),
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job, diags := jobfile.Load("testdata/good.hcl", tc.vars)
			if diags.HasErrors() {
				t.Fatalf("unexpected diagnostics: %s", diags)
			}
			if diff := cmp.Diff(want(tc.want), job, ctyComparer, ignoreRanges, cmpopts.IgnoreUnexported(jobfile.Job{}, jobfile.Task{})); diff != "" {
				t.Errorf("job mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadRanges(t *testing.T) {
	t.Parallel()

	job, diags := jobfile.Load("testdata/good.hcl", map[string]string{"mode": "x"})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %s", diags)
	}
	hello, check := job.Task("hello"), job.Task("check-2")
	if hello == nil || check == nil || job.Pack("tools") == nil {
		t.Fatal("Task or Pack lookup failed")
	}
	if job.Task("nope") != nil || job.Pack("nope") != nil {
		t.Fatal("Task or Pack lookup found an undeclared name")
	}

	tests := map[string]struct {
		rng  hcl.Range
		want string
	}{
		"job":        {job.DeclRange, "23:1"},
		"pack":       {job.Pack("tools").DeclRange, "32:1"},
		"task":       {hello.DeclRange, "41:1"},
		"task pack":  {hello.PackRange, "42:16"},
		"task task":  {hello.TaskRange, "43:16"},
		"args":       {hello.ArgsRange, "44:3"},
		"arg name":   {hello.ArgRanges["name"], "44:25"},
		"arg count":  {hello.ArgRanges["count"], "44:52"},
		"no args":    {job.Task("setup").ArgsRange, "36:1"},
		"empty args": {check.ArgsRange, "52:3"},
		"other task": {check.TaskRange, "51:16"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := fmt.Sprintf("%d:%d", tc.rng.Start.Line, tc.rng.Start.Column)
			if filepath.Base(tc.rng.Filename) != "good.hcl" {
				t.Errorf("range in file %q, want good.hcl", tc.rng.Filename)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("range start mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadVariableErrors(t *testing.T) {
	t.Parallel()

	tests := map[string]struct {
		vars    map[string]string
		summary string
		line    int // of the subject, or 0 for none
	}{
		"undeclared": {
			vars:    map[string]string{"mode": "x", "nope": "1"},
			summary: "Undeclared variable",
		},
		"required": {
			vars:    map[string]string{},
			summary: "No value for required variable",
			line:    19,
		},
		"not a number": {
			vars:    map[string]string{"mode": "x", "count": `"abc"`},
			summary: "Invalid value for variable",
			line:    9,
		},
		"not a list": {
			vars:    map[string]string{"mode": "x", "ports": "22"},
			summary: "Invalid value for variable",
			line:    14,
		},
		"bad syntax": {
			vars:    map[string]string{"mode": "x", "ports": "[22"},
			summary: "Unterminated tuple constructor expression",
			line:    1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job, diags := jobfile.Load("testdata/good.hcl", tc.vars)
			if job != nil || !diags.HasErrors() {
				t.Fatalf("got job %v and diagnostics %v, want only errors", job, diags)
			}
			errs := diags.Errs()
			if len(errs) != 1 {
				t.Errorf("got %d errors, want 1: %v", len(errs), errs)
			}
			diag := errs[0].(*hcl.Diagnostic)
			if diff := cmp.Diff(tc.summary, diag.Summary); diff != "" {
				t.Errorf("summary mismatch (-want +got):\n%s", diff)
			}
			line := 0
			if diag.Subject != nil {
				line = diag.Subject.Start.Line
			}
			if diff := cmp.Diff(tc.line, line); diff != "" {
				t.Errorf("subject line mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()

	job, diags := jobfile.Load("testdata/nonexistent.hcl", nil)
	if job != nil || !diags.HasErrors() {
		t.Fatalf("got job %v and diagnostics %v, want only errors", job, diags)
	}
}

// TestLoadBad loads each testdata/bad/NAME.hcl and compares its first error
// with NAME.golden: the summary, then FILE:LINE:COL of the subject.
func TestLoadBad(t *testing.T) {
	t.Parallel()

	files, err := filepath.Glob("testdata/bad/*.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 45 {
		t.Fatalf("found %d bad jobfiles, want at least 45", len(files))
	}
	tests := make(map[string]struct{ file, golden string })
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".hcl")
		tests[name] = struct{ file, golden string }{file, strings.TrimSuffix(file, ".hcl") + ".golden"}
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job, diags := jobfile.Load(tc.file, nil)
			if job != nil || !diags.HasErrors() {
				t.Fatalf("got job %v and diagnostics %v, want errors", job, diags)
			}
			first := diags.Errs()[0].(*hcl.Diagnostic)
			got := first.Summary + "\n"
			if first.Subject != nil {
				got += fmt.Sprintf("%s:%d:%d\n", filepath.Base(first.Subject.Filename), first.Subject.Start.Line, first.Subject.Start.Column)
			}

			if *update {
				if err := os.WriteFile(tc.golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("first error mismatch (-want +got):\n%s\nall diagnostics:\n%s", diff, diags)
			}
		})
	}
}

func TestLoadArgsExpression(t *testing.T) {
	t.Parallel()

	const src = `variable "opts" {
  type    = object({ a = number, b = list(string) })
  default = { a = "1", b = [] }
}
job "demo" {}
pack "demo" { path = "demo" }
task "t" {
  pack = "demo"
  task = "t"
  args = var.opts
}
`
	job, diags := jobfile.LoadSource("args.hcl", []byte(src), nil)
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %s", diags)
	}
	task := job.Task("t")
	want := map[string]cty.Value{
		"a": cty.NumberIntVal(1),
		"b": cty.ListValEmpty(cty.String),
	}
	if diff := cmp.Diff(want, task.Args, ctyComparer); diff != "" {
		t.Errorf("args mismatch (-want +got):\n%s", diff)
	}
	// Without an object constructor, every arg has the range of the whole
	// expression.
	for name, rng := range task.ArgRanges {
		if got := fmt.Sprintf("%d:%d", rng.Start.Line, rng.Start.Column); got != "10:10" {
			t.Errorf("range of %s starts at %s, want 10:10", name, got)
		}
	}
}
