package jobfile_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

const langJob = `
variable "region" {
  type    = string
  default = "lon"
  validation {
    condition     = length(var.region) == 3
    error_message = "A region is three letters."
  }
}
variable "routers" {
  type    = map(string)
  default = { r9 = "10.0.0.9" }
}
variable "token" {
  type      = string
  default   = "s3cret-default"
  sensitive = true
}
locals {
  names  = sort(keys(var.routers))
  prefix = "${local.site}-"
  site   = upper(var.region)
}
job "lang" {}
pack "p" { path = "p" }
task "setup" {
  pack = "p"
  task = "setup"
  args = { greeting = templatefile("greeting.tpl", { name = "x", region = var.region }), token = var.token }
}
task "ping" {
  for_each = var.routers
  pack     = "p"
  task     = "ping"
  args     = { name = "${local.prefix}${each.key}", addr = each.value, via = task.setup.output.addr }
}
task "n" {
  count      = 2
  pack       = "p"
  task       = "n"
  args       = { i = count.index, t = try(tonumber("x"), -1), ok = can(regex("^a", "abc")) }
  depends_on = [task.ping]
}
task "probe" {
  pack = "p"
  task = "probe"
  args {
    device = "d"
    dynamic "target" {
      for_each = local.names
      content {
        name = target.value
      }
    }
  }
  depends_on = [task.n[1], "setup"]
}
`

func loadLang(t *testing.T, opts jobfile.Options) *jobfile.Job {
	t.Helper()
	job, diags := jobfile.LoadSourceWith("testdata/lang/job.hcl", []byte(langJob), opts)
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics: %s", diags)
	}
	return job
}

func TestLanguage(t *testing.T) {
	t.Parallel()
	job := loadLang(t, jobfile.Options{VarFiles: []string{"testdata/lang/vars.tfvars"}})

	var ids []string
	for _, task := range job.Tasks {
		ids = append(ids, task.ID)
	}
	want := []string{"setup", `ping["r1"]`, `ping["r2"]`, "n[0]", "n[1]", "probe"}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("task ids (-want +got):\n%s", diff)
	}
	deps := map[string][]string{}
	for _, task := range job.Tasks {
		deps[task.ID] = task.DependsOn
	}
	wantDeps := map[string][]string{
		"setup":      nil,
		`ping["r1"]`: {"setup"},
		`ping["r2"]`: {"setup"},
		"n[0]":       {`ping["r1"]`, `ping["r2"]`},
		"n[1]":       {`ping["r1"]`, `ping["r2"]`},
		"probe":      {"n[1]", "setup"},
	}
	if diff := cmp.Diff(wantDeps, deps); diff != "" {
		t.Errorf("dependencies (-want +got):\n%s", diff)
	}

	setup := job.Task("setup")
	if got := setup.Args["greeting"].AsString(); got != "hello x in PAR\n" {
		t.Errorf("templatefile gave %q", got)
	}
	if got := setup.Args["token"]; got.IsMarked() || got.AsString() != "s3cret-default" {
		t.Errorf("token arg = %#v, want the unmarked value", got)
	}
	r1 := job.Task(`ping["r1"]`)
	if got := r1.Args["name"].AsString(); got != "PAR-r1" {
		t.Errorf("name = %q, want PAR-r1 (locals in order of use)", got)
	}
	if got := r1.Args["addr"].AsString(); got != "10.0.0.1" {
		t.Errorf("addr = %q", got)
	}
	if _, ok := r1.Deferred["via"]; !ok || len(r1.OutputRefs) != 1 || r1.OutputRefs[0].Name != "addr" {
		t.Errorf("via not deferred: %v %v", r1.Deferred, r1.OutputRefs)
	}
	n1 := job.Task("n[1]")
	if !n1.Args["i"].RawEquals(cty.NumberIntVal(1)) || !n1.Args["t"].RawEquals(cty.NumberIntVal(-1)) || !n1.Args["ok"].True() {
		t.Errorf("n[1] args = %#v", n1.Args)
	}
	probe := job.Task("probe")
	wantTargets := cty.TupleVal([]cty.Value{
		cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r1")}),
		cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal("r2")}),
	})
	if !probe.Args["target"].RawEquals(wantTargets) {
		t.Errorf("dynamic blocks gave %#v", probe.Args["target"])
	}

	// The outputs, once known.
	outputs := func(id string) map[string]cty.Value {
		if id == "setup" {
			return map[string]cty.Value{"addr": cty.StringVal("192.0.2.1")}
		}
		return nil
	}
	vals, err := r1.EvalDeferred(outputs)
	if err != nil {
		t.Fatal(err)
	}
	if got := vals["via"].AsString(); got != "192.0.2.1" {
		t.Errorf("via = %q", got)
	}
	_, err = r1.EvalDeferred(func(string) map[string]cty.Value { return nil })
	if err == nil || !strings.Contains(err.Error(), `task setup did not set the output "addr"`) {
		t.Errorf("missing output: err = %v", err)
	}
}

func TestVariablePrecedence(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		opts   jobfile.Options
		region string
		token  string
	}{
		"default":            {jobfile.Options{}, "lon", "s3cret-default"},
		"environment":        {jobfile.Options{Environ: []string{"TASKHOST_VAR_region=env", "TASKHOST_VAR_nope=1"}}, "env", "s3cret-default"},
		"file over env":      {jobfile.Options{Environ: []string{"TASKHOST_VAR_region=env"}, VarFiles: []string{"testdata/lang/vars.tfvars"}}, "par", "s3cret-default"},
		"later file":         {jobfile.Options{VarFiles: []string{"testdata/lang/vars.tfvars", "testdata/lang/vars.json"}}, "ams", "from-json"},
		"-var over the rest": {jobfile.Options{Environ: []string{"TASKHOST_VAR_region=env"}, VarFiles: []string{"testdata/lang/vars.json"}, Vars: map[string]string{"region": "cli"}}, "cli", "from-json"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			job := loadLang(t, tc.opts)
			if got := job.Variables["region"].AsString(); got != tc.region {
				t.Errorf("region = %q, want %q", got, tc.region)
			}
			if got := job.Variables["token"].AsString(); got != tc.token {
				t.Errorf("token = %q, want %q", got, tc.token)
			}
		})
	}
}

func TestSensitiveRedaction(t *testing.T) {
	t.Parallel()
	job := loadLang(t, jobfile.Options{})
	if !job.Sensitive["token"] || job.Sensitive["region"] {
		t.Fatalf("Sensitive = %v", job.Sensitive)
	}
	src := string(job.RedactedSource())
	if strings.Contains(src, "s3cret-default") || !strings.Contains(src, `default   = "(sensitive)"`) {
		t.Errorf("redacted source still shows the secret or lost the default:\n%s", src)
	}
	if _, diags := jobfile.LoadSource("testdata/lang/copy.hcl", []byte(src), nil); diags.HasErrors() {
		t.Errorf("the redacted copy does not load: %s", diags)
	}
	got := job.RedactArgs([]string{"taskhost", "run", "-var", "token=abc", "--var=token=abc", "-var", "region=x", "--var", "token=z"})
	want := []string{"taskhost", "run", "-var", "token=(sensitive)", "--var=token=(sensitive)", "-var", "region=x", "--var", "token=(sensitive)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RedactArgs (-want +got):\n%s", diff)
	}
}

// TestCheckArgsExpanded: a problem in the args of a task with for_each is
// reported once, not once per instance; a reference to an output the
// producing task does not declare is an error; deferred args count as
// given.
func TestCheckArgsExpanded(t *testing.T) {
	t.Parallel()
	job := loadLang(t, jobfile.Options{})
	schemas := map[string]*jobfile.PackSchema{"p": {Tasks: []jobfile.TaskSchema{
		{Name: "setup", Args: []jobfile.ArgSchema{{Name: "greeting", Type: cty.String}, {Name: "token", Type: cty.String}}, Outputs: []string{"address"}},
		{Name: "ping", Args: []jobfile.ArgSchema{{Name: "name", Type: cty.String}, {Name: "via", Type: cty.String, Required: true}}},
		{Name: "n", Args: []jobfile.ArgSchema{{Name: "i", Type: cty.Number}, {Name: "t", Type: cty.Number}, {Name: "ok", Type: cty.Bool}}},
		{Name: "probe", Args: []jobfile.ArgSchema{{Name: "device", Type: cty.String}, {Name: "target", Type: cty.List(cty.Object(map[string]cty.Type{"name": cty.String}))}}},
	}}}
	_, diags := jobfile.CheckArgs(job, schemas)
	var got []string
	for _, d := range diags {
		got = append(got, fmt.Sprintf("%s %d:%d", d.Summary, d.Subject.Start.Line, d.Subject.Start.Column))
	}
	want := []string{
		"Unknown output 35:78",       // task.setup.output.addr: setup declares address
		"Unsupported argument 35:60", // addr, once for ping["r1"] and ping["r2"]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diagnostics (-want +got):\n%s\n%s", diff, diags)
	}
}

// TestReferenceForms checks the forms of reference that docs/jobfile.md
// shows, and its args block example.
func TestReferenceForms(t *testing.T) {
	t.Parallel()
	const src = `
variable "targets" {
  default = { web = 443, ssh = 22 }
}
job "j" {}
pack "p" { path = "p" }
task "ping" {
  for_each = toset(["r1", "r2"])
  pack     = "p"
  task     = "ping"
}
task "load" {
  count = 2
  pack  = "p"
  task  = "load"
  args  = { rate = "${(count.index + 1) * 100}M" }
}
task "follow" {
  for_each   = toset(["r1", "r2"])
  pack       = "p"
  task       = "f"
  depends_on = [task.ping[each.key]]
}
task "pair" {
  for_each = toset(["r1", "r2"])
  pack     = "p"
  task     = "pair"
  args     = { peer = task.ping[each.key].output.addr, n = task.load[1].output.n }
}
task "strings" {
  pack       = "p"
  task       = "s"
  depends_on = ["ping[\"r2\"]", "load", task.load[1].id]
}
task "probe" {
  pack = "p"
  task = "probe"
  args {
    device = "r1"
    target {
      host = "192.0.2.1"
      port = 179
    }
    dynamic "target" {
      for_each = var.targets
      iterator = t
      content {
        host = "192.0.2.10"
        port = t.value
      }
    }
  }
}
`
	job, diags := jobfile.LoadSource("refs.hcl", []byte(src), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	got := map[string][]string{}
	for _, task := range job.Tasks {
		got[task.ID] = task.DependsOn
	}
	want := map[string][]string{
		`ping["r1"]`: nil, `ping["r2"]`: nil, "load[0]": nil, "load[1]": nil, "probe": nil,
		`follow["r1"]`: {`ping["r1"]`}, `follow["r2"]`: {`ping["r2"]`},
		"strings":    {`ping["r2"]`, "load[0]", "load[1]"},
		`pair["r1"]`: {`ping["r1"]`, "load[1]"},
		`pair["r2"]`: {`ping["r2"]`, "load[1]"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dependencies (-want +got):\n%s", diff)
	}
	var refs []string
	for _, r := range job.Task(`pair["r2"]`).OutputRefs {
		refs = append(refs, fmt.Sprintf("%v.%s", r.Tasks, r.Name))
	}
	if diff := cmp.Diff([]string{`[ping["r2"]].addr`, "[load[1]].n"}, refs); diff != "" {
		t.Errorf("output refs (-want +got):\n%s", diff)
	}
	if got := job.Task("load[1]").Args["rate"].AsString(); got != "200M" {
		t.Errorf("rate = %q", got)
	}
	target := func(host string, port int64) cty.Value {
		return cty.ObjectVal(map[string]cty.Value{"host": cty.StringVal(host), "port": cty.NumberIntVal(port)})
	}
	wantTargets := cty.TupleVal([]cty.Value{target("192.0.2.1", 179), target("192.0.2.10", 22), target("192.0.2.10", 443)})
	if got := job.Task("probe").Args["target"]; !got.RawEquals(wantTargets) {
		t.Errorf("targets = %#v", got)
	}
}
