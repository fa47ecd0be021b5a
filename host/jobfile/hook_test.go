package jobfile_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

const hookJobfile = `
job "j" {}
pack "p" { path = "p" }
hook "late"   {
  pack  = "p"
  hook  = "record"
  order = 20
  args  = { file = "/tmp/x", n = 3 }
}
hook "first"  {
  pack  = "p"
  hook  = "record"
  order = -1
  timeout = "5s"
}
hook "middle" {
  pack = "p"
  hook = "record"
}
hook "tie" {
  pack = "p"
  hook = "other"
}
`

func TestLoadHooks(t *testing.T) {
	t.Parallel()
	job, diags := jobfile.LoadSource("job.hcl", []byte(hookJobfile), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var got []string
	for _, h := range job.HooksInOrder() {
		got = append(got, h.Name)
	}
	if diff := cmp.Diff([]string{"first", "middle", "tie", "late"}, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	late := job.Hooks[0]
	if late.Pack != "p" || late.Hook != "record" || late.Order != 20 || !late.Args["n"].RawEquals(cty.NumberIntVal(3)) || late.ArgRanges["file"].Start.Line != 8 {
		t.Errorf("late = %+v", late)
	}
	if job.Hooks[1].Timeout.String() != "5s" {
		t.Errorf("first's timeout = %s", job.Hooks[1].Timeout)
	}
}

func TestCheckHookArgs(t *testing.T) {
	t.Parallel()
	job, diags := jobfile.LoadSource("job.hcl", []byte(hookJobfile), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	schemas := map[string]*jobfile.PackSchema{"p": {Name: "p", Hooks: []jobfile.TaskSchema{
		{Name: "record", Args: []jobfile.ArgSchema{{Name: "file", Type: cty.String}, {Name: "n", Type: cty.Number}}},
	}}}
	args, diags := jobfile.CheckHookArgs(job, schemas)
	if len(diags) != 1 || diags[0].Summary != "Unknown hook" || diags[0].Detail != `Pack "p" has no hook "other". Its hooks are "record".` || args != nil {
		t.Fatalf("diags = %v, args = %v", diags, args)
	}
	schemas["p"].Hooks = append(schemas["p"].Hooks, jobfile.TaskSchema{Name: "other", Args: []jobfile.ArgSchema{{Name: "url", Type: cty.String, Required: true}}})
	_, diags = jobfile.CheckHookArgs(job, schemas)
	want := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Missing required argument", Detail: `Hook "other" of pack "p" requires the argument "url".`}}
	if len(diags) != 1 || diags[0].Summary != want[0].Summary || diags[0].Detail != want[0].Detail {
		t.Fatalf("diags = %v", diags)
	}
	schemas["p"].Hooks[1].Args[0].Required = false
	args, diags = jobfile.CheckHookArgs(job, schemas)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if diff := cmp.Diff(`{"file":"/tmp/x","n":3}`, string(args["late"])); diff != "" {
		t.Errorf("late's args (-want +got):\n%s", diff)
	}
}
