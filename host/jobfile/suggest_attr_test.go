package jobfile_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
)

func TestReferenceSuggestions(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		expr            string
		summary, detail string
	}{
		"variable": {"var.devcies", "Reference to undeclared input variable",
			`An input variable with the name "devcies" has not been declared. Did you mean "devices"?`},
		"variable far from any": {"var.zzzzzzzz", "Reference to undeclared input variable",
			`An input variable with the name "zzzzzzzz" has not been declared. This variable can be declared with a variable "zzzzzzzz" {} block.`},
		"attribute of a variable": {`var.devices["r1"].hots`, "Unsupported attribute",
			`This object does not have an attribute named "hots". Did you mean "host"?`},
		"local":           {"local.adresses", "Unsupported attribute", `Did you mean "addresses"?`},
		"each.value":      {"each.value.hots", "Unsupported attribute", `Did you mean "host"?`},
		"nothing close":   {"each.value.zzzzzzzz", "Unsupported attribute", `This object does not have an attribute named "zzzzzzzz".`},
		"inside a string": {`"${var.devcies}"`, "Reference to undeclared input variable", `Did you mean "devices"?`},
		"inside a for":    {`[for d in var.devices : d.hots]`, "Unsupported attribute", `Did you mean "host"?`},
		"function result": {`merge(var.devices).r3`, "Unsupported attribute", `This object does not have an attribute named "r3".`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := `job "j" {}
variable "devices" { default = { r1 = { host = "10.0.0.1" } } }
locals { addresses = [for d in var.devices : d.host] }
pack "p" { path = "p" }
task "t" {
  for_each = var.devices
  pack     = "p"
  task     = "t"
  args     = { x = ` + tc.expr + ` }
}
`
			_, diags := jobfile.LoadSource("job.hcl", []byte(src), nil)
			if len(diags) != 1 {
				t.Fatalf("want one diagnostic, got %s", diags)
			}
			d := diags[0]
			if d.Severity != hcl.DiagError || d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("got %q: %q\nwant %q: %q", d.Summary, d.Detail, tc.summary, tc.detail)
			}
			if tc.detail == "" || strings.Count(d.Detail, "Did you mean") > 1 {
				t.Errorf("detail %q", d.Detail)
			}
		})
	}
}
