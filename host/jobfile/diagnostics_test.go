package jobfile_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
)

func TestWriteDiagnostics(t *testing.T) {
	t.Parallel()

	const virtual = `job "demo" {
  max_parallel = 0
}
`
	tests := map[string]struct {
		load  func() hcl.Diagnostics
		files map[string][]byte
		want  []string
	}{
		"from disk": {
			load: func() hcl.Diagnostics {
				_, diags := jobfile.Load("testdata/bad/unknown_pack.hcl", nil)
				return diags
			},
			want: []string{
				"Error: Unknown pack\n",
				"  on testdata/bad/unknown_pack.hcl:8:10, in task \"hello\":\n",
				"     8 |   pack = \"dmeo\"\n",
				"       |          ^^^^^^\n",
				`No pack named "dmeo" is declared. Did you mean "demo"?`,
			},
		},
		"from files": {
			load: func() hcl.Diagnostics {
				_, diags := jobfile.LoadSource("virtual.hcl", []byte(virtual), nil)
				return diags
			},
			files: map[string][]byte{"virtual.hcl": []byte(virtual)},
			want: []string{
				"Error: Invalid max_parallel\n",
				"  on virtual.hcl:2:18, in job \"demo\":\n",
				"     2 |   max_parallel = 0\n",
				"       |                  ^\n",
			},
		},
		"source not available": {
			load: func() hcl.Diagnostics {
				_, diags := jobfile.LoadSource("virtual.hcl", []byte(virtual), nil)
				return diags
			},
			want: []string{
				"  on virtual.hcl:2:18:\n  (source not available)\n",
			},
		},
		"no subject": {
			load: func() hcl.Diagnostics {
				_, diags := jobfile.Load("testdata/good.hcl", map[string]string{"mode": "x", "nope": "1"})
				return diags
			},
			want: []string{
				"Error: Undeclared variable\n\nA value was given for var.nope",
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			diags := tc.load()
			if !diags.HasErrors() {
				t.Fatal("no errors to write")
			}
			var buf bytes.Buffer
			if err := jobfile.WriteDiagnostics(&buf, tc.files, diags); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(buf.String(), want) {
					t.Errorf("output does not contain %q:\n%s", want, buf.String())
				}
			}
		})
	}
}
