package jobfile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
)

// placementHead comes before each test's jobfile text: a pack, and a
// variable and a local to build labels from.
const placementHead = `pack "p" { path = "p" }
variable "lab" { default = "sjc" }
variable "secret" {
  default   = "x"
  sensitive = true
}
locals { base = { os = "linux" } }
`

// placementLine is the line of a test's text (counted from 1) in the
// jobfile made of placementHead and that text.
func placementLine(line int) int { return line + strings.Count(placementHead, "\n") }

// task is a task block of id with body added.
func task(id, body string) string {
	return fmt.Sprintf("task %q {\n  pack = \"p\"\n  task = \"t\"\n%s}\n", id, body)
}

// TestPlacement: each task gets the placement of its own block, else the
// job's, else none (on the host, the zero Placement); DeclRange is the
// line of the block that decided.
func TestPlacement(t *testing.T) {
	t.Parallel()

	// where is a placement as the test sees it: DeclRange as a line.
	type where struct {
		Remote bool
		Labels map[string]string
		Line   int
	}
	tests := map[string]struct {
		src  string
		job  where
		want map[string]where
	}{
		"none": {
			src:  "job \"x\" {}\n" + task("a", ""),
			want: map[string]where{"a": {}},
		},
		"task labels": {
			src: "job \"x\" {}\n" + task("a", "  placement {\n    labels = { lab = \"sjc\", os = \"linux\" }\n  }\n") + task("b", ""),
			want: map[string]where{
				"a": {Remote: true, Labels: map[string]string{"lab": "sjc", "os": "linux"}, Line: 5},
				"b": {},
			},
		},
		"job default and local override": {
			src: "job \"x\" {\n  placement { labels = { lab = var.lab } }\n}\n" +
				task("a", "") + // lines 4-7
				task("b", "  placement { local = true }\n"), // lines 8-12
			job: where{Remote: true, Labels: map[string]string{"lab": "sjc"}, Line: 2},
			want: map[string]where{
				"a": {Remote: true, Labels: map[string]string{"lab": "sjc"}, Line: 2},
				"b": {Line: 11},
			},
		},
		"task overrides job labels": {
			src: "job \"x\" {\n  placement { labels = { lab = \"sjc\" } }\n}\n" +
				task("a", "  placement { labels = { lab = \"par\" } }\n"),
			job:  where{Remote: true, Labels: map[string]string{"lab": "sjc"}, Line: 2},
			want: map[string]where{"a": {Remote: true, Labels: map[string]string{"lab": "par"}, Line: 7}},
		},
		"labels from for_each": {
			src: "job \"x\" {}\n" + task("a", "  for_each = { r1 = \"sjc\", r2 = \"par\" }\n  placement { labels = { lab = each.value, dev = each.key } }\n"),
			want: map[string]where{
				`a["r1"]`: {Remote: true, Labels: map[string]string{"lab": "sjc", "dev": "r1"}, Line: 6},
				`a["r2"]`: {Remote: true, Labels: map[string]string{"lab": "par", "dev": "r2"}, Line: 6},
			},
		},
		"labels from an expression": {
			src:  "job \"x\" {}\n" + task("a", "  placement { labels = merge(local.base, { lab = var.lab }) }\n"),
			want: map[string]where{"a": {Remote: true, Labels: map[string]string{"lab": "sjc", "os": "linux"}, Line: 5}},
		},
		"no labels: any agent": {
			src:  "job \"x\" {}\n" + task("a", "  placement { labels = {} }\n"),
			want: map[string]where{"a": {Remote: true, Labels: map[string]string{}, Line: 5}},
		},
		"local = false with labels": {
			src:  "job \"x\" {}\n" + task("a", "  placement {\n    local  = false\n    labels = { rack = 3, \"a.b-c_d\" = \"1.2\" }\n  }\n"),
			want: map[string]where{"a": {Remote: true, Labels: map[string]string{"rack": "3", "a.b-c_d": "1.2"}, Line: 5}},
		},
		"local job default": {
			src:  "job \"x\" {\n  placement { local = true }\n}\n" + task("a", ""),
			job:  where{Line: 2},
			want: map[string]where{"a": {Line: 2}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job, diags := jobfile.LoadSource("job.hcl", []byte(placementHead+tc.src), nil)
			if diags.HasErrors() {
				t.Fatalf("diagnostics: %s", diags)
			}
			seen := func(p jobfile.Placement) where {
				w := where{Remote: p.Remote, Labels: p.Labels}
				if p.DeclRange != (hcl.Range{}) {
					w.Line = p.DeclRange.Start.Line - strings.Count(placementHead, "\n")
				}
				return w
			}
			if diff := cmp.Diff(tc.job, seen(job.Placement)); diff != "" {
				t.Errorf("job's placement (-want +got):\n%s", diff)
			}
			got := map[string]where{}
			for _, task := range job.Tasks {
				got[task.ID] = seen(task.Placement)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("tasks' placements (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPlacementLabelsOwned: tasks that take the job's default do not share
// its labels map.
func TestPlacementLabelsOwned(t *testing.T) {
	t.Parallel()
	src := "job \"x\" {\n  placement { labels = { lab = \"sjc\" } }\n}\n" + task("a", "") + task("b", "")
	job, diags := jobfile.LoadSource("job.hcl", []byte(placementHead+src), nil)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %s", diags)
	}
	job.Tasks[0].Placement.Labels["lab"] = "changed"
	if job.Placement.Labels["lab"] != "sjc" || job.Tasks[1].Placement.Labels["lab"] != "sjc" {
		t.Errorf("a task's labels are shared: job %v, b %v", job.Placement.Labels, job.Tasks[1].Placement.Labels)
	}
}

// TestPlacementBad: each mistake is an error with its summary on the
// line and column of what is wrong.
func TestPlacementBad(t *testing.T) {
	t.Parallel()

	long := strings.Repeat("a", jobfile.MaxLabelBytes+1)
	var many []string
	for i := range jobfile.MaxLabels + 1 {
		many = append(many, fmt.Sprintf("k%d = \"v\"", i))
	}
	tests := map[string]struct {
		src     string
		summary string
		line    int
		col     int
		detail  string // a part of the detail, when the summary is not enough
	}{
		"upper-case key": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { Lab = \"sjc\" } }\n"),
			summary: "Invalid label", line: 5, col: 26, detail: "upper-case letter 'L'",
		},
		"bad character in a value": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { lab = \"s,jc\" } }\n"),
			summary: "Invalid label", line: 5, col: 32, detail: `holds ','`,
		},
		"value starting with a dash": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { lab = \"-sjc\" } }\n"),
			summary: "Invalid label", line: 5, col: 32, detail: `starts with '-'`,
		},
		"empty value": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { lab = \"\" } }\n"),
			summary: "Invalid label", line: 5, col: 32, detail: "it is empty",
		},
		"key too long": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { "+long+" = \"v\" } }\n"),
			summary: "Invalid label", line: 5, col: 26, detail: "64 bytes long, over 63",
		},
		"too many labels": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { "+strings.Join(many, ", ")+" } }\n"),
			summary: "Too many labels", line: 5, col: 24,
		},
		"duplicate label": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { lab = \"a\", \"lab\" = \"b\" } }\n"),
			summary: "Duplicate label", line: 5, col: 37,
		},
		"bad label through an expression": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = merge(local.base, { OS = \"x\" }) }\n"),
			summary: "Invalid label", line: 5, col: 24,
		},
		"labels not a map": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = [\"sjc\"] }\n"),
			summary: "Incorrect attribute value type", line: 5, col: 24,
		},
		"sensitive label": {
			src:     "job \"x\" {}\n" + task("a", "  placement { labels = { lab = var.secret } }\n"),
			summary: "Sensitive value not allowed here", line: 5, col: 32,
		},
		"labels and local": {
			src:     "job \"x\" {}\n" + task("a", "  placement {\n    local  = true\n    labels = { lab = \"sjc\" }\n  }\n"),
			summary: "Conflicting placement", line: 7, col: 5,
		},
		"empty block": {
			src:     "job \"x\" {}\n" + task("a", "  placement {}\n"),
			summary: "Missing labels", line: 5, col: 3,
		},
		"local = false alone": {
			src:     "job \"x\" {}\n" + task("a", "  placement { local = false }\n"),
			summary: "Missing labels", line: 5, col: 3,
		},
		"local not a bool": {
			src:     "job \"x\" {}\n" + task("a", "  placement { local = \"yes\" }\n"),
			summary: "Incorrect attribute value type", line: 5, col: 23,
		},
		"two blocks": {
			src:     "job \"x\" {}\n" + task("a", "  placement { local = true }\n  placement { local = true }\n"),
			summary: "Duplicate placement block", line: 6, col: 3,
		},
		"unknown attribute": {
			src:     "job \"x\" {}\n" + task("a", "  placement { label = { lab = \"sjc\" } }\n"),
			summary: "Unsupported argument", line: 5, col: 15,
		},
		"placement as an attribute": {
			src:     "job \"x\" {}\n" + task("a", "  placement = \"local\"\n"),
			summary: "Unsupported argument", line: 5, col: 3,
		},
		"bad job default": {
			src:     "job \"x\" {\n  placement { labels = { lab = \"SJC\" } }\n}\n" + task("a", ""),
			summary: "Invalid label", line: 2, col: 32, detail: "upper-case letter 'S'",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job, diags := jobfile.LoadSource("job.hcl", []byte(placementHead+tc.src), nil)
			if job != nil || !diags.HasErrors() {
				t.Fatalf("got a job and %v, want errors", diags)
			}
			first := diags.Errs()[0].(*hcl.Diagnostic)
			got := fmt.Sprintf("%s at %d:%d", first.Summary, first.Subject.Start.Line, first.Subject.Start.Column)
			want := fmt.Sprintf("%s at %d:%d", tc.summary, placementLine(tc.line), tc.col)
			if got != want {
				t.Errorf("first error %q, want %q; all:\n%s", got, want, diags)
			}
			if !strings.Contains(first.Detail, tc.detail) {
				t.Errorf("detail %q lacks %q", first.Detail, tc.detail)
			}
		})
	}
}

// TestClassOf: a class's key is its labels as sorted "k=v" lines and its
// id the first 16 hex digits of the key's SHA-256 (the ids below are
// `printf KEY | sha256sum`), whatever order the labels come in.
func TestClassOf(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		labels map[string]string
		want   jobfile.Class
	}{
		"none":  {nil, jobfile.Class{Key: "", ID: "e3b0c44298fc1c14"}},
		"empty": {map[string]string{}, jobfile.Class{Key: "", ID: "e3b0c44298fc1c14"}},
		"one":   {map[string]string{"os": "linux"}, jobfile.Class{Key: "os=linux\n", ID: "978ddbb2664c1105"}},
		"two":   {map[string]string{"os": "linux", "lab": "sjc"}, jobfile.Class{Key: "lab=sjc\nos=linux\n", ID: "d7aff80c1caefb18"}},
		// The lines are sorted, not the keys: "a.b=" before "a=".
		"prefix keys": {map[string]string{"a": "y", "a.b": "x"}, jobfile.Class{Key: "a.b=x\na=y\n", ID: "5f6003535b6151f4"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// Go randomises a map's order: build it many times over.
			for range 20 {
				labels := make(map[string]string, len(tc.labels))
				for k, v := range tc.labels {
					labels[k] = v
				}
				if diff := cmp.Diff(tc.want, jobfile.ClassOf(labels)); diff != "" {
					t.Fatalf("class (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestPlacementClass: tasks whose labels are the same set, written in any
// order or by the job's default, are of one class; others are not.
func TestPlacementClass(t *testing.T) {
	t.Parallel()
	src := "job \"x\" {\n  placement { labels = { os = \"linux\", lab = \"sjc\" } }\n}\n" +
		task("a", "") +
		task("b", "  placement { labels = { lab = \"sjc\", os = \"linux\" } }\n") +
		task("c", "  placement { labels = { lab = \"par\", os = \"linux\" } }\n")
	job, diags := jobfile.LoadSource("job.hcl", []byte(placementHead+src), nil)
	if diags.HasErrors() {
		t.Fatalf("diagnostics: %s", diags)
	}
	a, b, c := job.Task("a").Placement.Class(), job.Task("b").Placement.Class(), job.Task("c").Placement.Class()
	if a != b || a.ID != "d7aff80c1caefb18" {
		t.Errorf("a %+v and b %+v differ, want both d7aff80c1caefb18", a, b)
	}
	if c == a {
		t.Errorf("c has a's class %+v", c)
	}
}
