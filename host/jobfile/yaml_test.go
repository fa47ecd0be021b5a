package jobfile_test

import (
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

// TestYAMLFunctions: yamldecode and yamlencode as Terraform's, aliases and
// merge keys included.
func TestYAMLFunctions(t *testing.T) {
	t.Parallel()
	const src = `
job "j" {}
pack "p" { path = "p" }
task "t" {
  pack = "p"
  task = "t"
  args = {
    decoded = yamldecode("base: &b {os: iosxe, port: 22}\nr1:\n  <<: *b\n  port: 830\nlist: [1, true, null, x]\n")
    encoded = yamlencode({ name = "r1", ports = [22, 830] })
    empty   = yamldecode("null")
  }
}
`
	job, diags := jobfile.LoadSource("yaml.hcl", []byte(src), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	args := job.Task("t").Args
	d := args["decoded"]
	if got := d.GetAttr("r1").GetAttr("os").AsString(); got != "iosxe" {
		t.Errorf("r1.os (merged) = %q", got)
	}
	if got := d.GetAttr("r1").GetAttr("port"); !got.RawEquals(cty.NumberIntVal(830)) {
		t.Errorf("r1.port = %#v", got)
	}
	list := d.GetAttr("list")
	if !list.Type().IsTupleType() || list.LengthInt() != 4 || !list.Index(cty.NumberIntVal(1)).RawEquals(cty.True) || !list.Index(cty.NumberIntVal(2)).IsNull() {
		t.Errorf("list = %#v", list)
	}
	if got, want := args["encoded"].AsString(), "\"name\": \"r1\"\n\"ports\":\n- 22\n- 830\n"; got != want {
		t.Errorf("yamlencode = %q, want %q", got, want)
	}
	if !args["empty"].IsNull() {
		t.Errorf("yamldecode(\"null\") = %#v, want null", args["empty"])
	}
}
