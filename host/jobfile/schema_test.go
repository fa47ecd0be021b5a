package jobfile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

// checkArgsJob is a jobfile with one task; the task name and the args line
// are filled in by each test. The task attribute's value starts at 5:10 and
// the args line is line 6.
const checkArgsJob = `job "demo" {}
pack "demo" { path = "demo" }
task "t" {
  pack = "demo"
  task = %q
  %s
}
`

var demoSchema = &jobfile.PackSchema{
	Name: "demo",
	Tasks: []jobfile.TaskSchema{
		{
			Name: "greet",
			Args: []jobfile.ArgSchema{
				{Name: "name", Type: cty.String, Required: true},
				{Name: "count", Type: cty.Number},
				{Name: "tags", Type: cty.List(cty.String)},
				{Name: "extra", Type: cty.DynamicPseudoType},
			},
		},
		{Name: "noop"},
	},
}

func TestCheckArgs(t *testing.T) {
	t.Parallel()

	tests := map[string]struct {
		task, args string
		schemas    map[string]*jobfile.PackSchema // demoSchema when nil

		// Either the JSON for task "t", or the first error's summary,
		// subject start, and a part of its detail.
		want    string
		summary string
		at      string
		detail  string
	}{
		"all args": {
			task: "greet",
			args: `args = { name = "x", count = "3", tags = ["a", 1], extra = { a = 1, b = [true] } }`,
			want: `{"count":3,"extra":{"a":1,"b":[true]},"name":"x","tags":["a","1"]}`,
		},
		"required only": {
			task: "greet",
			args: `args = { name = upper("x") }`,
			want: `{"name":"X"}`,
		},
		"dynamic string": {
			task: "greet",
			args: `args = { name = "x", extra = "y" }`,
			want: `{"extra":"y","name":"x"}`,
		},
		"null optional": {
			task: "greet",
			args: `args = { name = "x", count = null }`,
			want: `{"count":null,"name":"x"}`,
		},
		"no args": {
			task: "noop",
			want: `{}`,
		},
		"unknown task": {
			task:    "gret",
			summary: "Unknown task",
			at:      "5:10",
			detail:  `Pack "demo" has no task "gret". Did you mean "greet"? Its tasks are "greet", "noop".`,
		},
		"unknown arg": {
			task:    "greet",
			args:    `args = { name = "x", cuont = 1 }`,
			summary: "Unsupported argument",
			at:      "6:32",
			detail:  `Did you mean "count"? It accepts "name", "count", "tags", "extra".`,
		},
		"unknown arg without suggestion": {
			task:    "noop",
			args:    `args = { verbose = true }`,
			summary: "Unsupported argument",
			at:      "6:22",
			detail:  `has no argument "verbose". It accepts no arguments.`,
		},
		"missing required": {
			task:    "greet",
			args:    `args = { count = 1 }`,
			summary: "Missing required argument",
			at:      "6:3",
			detail:  `requires the argument "name"`,
		},
		"missing required without args": {
			task:    "greet",
			summary: "Missing required argument",
			at:      "3:1",
			detail:  `requires the argument "name"`,
		},
		"null required": {
			task:    "greet",
			args:    `args = { name = null }`,
			summary: "Missing required argument",
			at:      "6:3",
		},
		"wrong type": {
			task:    "greet",
			args:    `args = { name = "x", count = "abc" }`,
			summary: "Invalid argument value",
			at:      "6:32",
			detail:  `The argument "count" of task "greet" must be number: a number is required.`,
		},
		"wrong collection type": {
			task:    "greet",
			args:    `args = { name = "x", tags = { a = "b" } }`,
			summary: "Invalid argument value",
			at:      "6:31",
			detail:  `must be list(string): `,
		},
		"missing pack schema": {
			task:    "greet",
			schemas: map[string]*jobfile.PackSchema{},
			summary: "Missing pack schema",
			at:      "4:10",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := fmt.Sprintf(checkArgsJob, tc.task, tc.args)
			job, diags := jobfile.LoadSource("check.hcl", []byte(src), nil)
			if diags.HasErrors() {
				t.Fatalf("unexpected load diagnostics: %s", diags)
			}
			schemas := tc.schemas
			if schemas == nil {
				schemas = map[string]*jobfile.PackSchema{"demo": demoSchema}
			}

			got, diags := jobfile.CheckArgs(job, schemas)
			if tc.summary == "" {
				if diags.HasErrors() {
					t.Fatalf("unexpected diagnostics: %s", diags)
				}
				if diff := cmp.Diff(map[string]string{"t": tc.want}, stringValues(got)); diff != "" {
					t.Errorf("JSON mismatch (-want +got):\n%s", diff)
				}
				return
			}

			if got != nil || !diags.HasErrors() {
				t.Fatalf("got %q and diagnostics %v, want only errors", got, diags)
			}
			first := diags.Errs()[0].(*hcl.Diagnostic)
			gotAt := fmt.Sprintf("%d:%d", first.Subject.Start.Line, first.Subject.Start.Column)
			if diff := cmp.Diff([]string{tc.summary, tc.at}, []string{first.Summary, gotAt}); diff != "" {
				t.Errorf("first error mismatch (-want +got):\n%s", diff)
			}
			if !strings.Contains(first.Detail, tc.detail) {
				t.Errorf("detail %q does not contain %q", first.Detail, tc.detail)
			}
		})
	}
}

func TestCheckArgsGoodJob(t *testing.T) {
	t.Parallel()

	job, diags := jobfile.Load("testdata/good.hcl", map[string]string{"mode": "x", "ports": "[1, 2]"})
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %s", diags)
	}
	schemas := map[string]*jobfile.PackSchema{
		"demo": {
			Name: "demo",
			Tasks: []jobfile.TaskSchema{
				{
					Name: "hello",
					Args: []jobfile.ArgSchema{
						{Name: "name", Type: cty.String, Required: true},
						{Name: "count", Type: cty.String},
						{Name: "ports", Type: cty.Set(cty.Number)},
						{Name: "mode", Type: cty.DynamicPseudoType},
					},
				},
				{Name: "check"},
			},
		},
		"tools": {Name: "tools", Tasks: []jobfile.TaskSchema{{Name: "prepare"}}},
	}
	got, diags := jobfile.CheckArgs(job, schemas)
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %s", diags)
	}
	want := map[string]string{
		"setup":   `{}`,
		"hello":   `{"count":"1","mode":"x","name":"LOCALHOST","ports":[1,2]}`,
		"check-2": `{}`,
	}
	if diff := cmp.Diff(want, stringValues(got)); diff != "" {
		t.Errorf("JSON mismatch (-want +got):\n%s", diff)
	}
}

func stringValues(m map[string][]byte) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}
