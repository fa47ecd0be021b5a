package jobfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/jobfile"
)

// The job block's max_state_bytes is decoded as given, 0 (the hub's
// default) when not, and refused under 1024.
func TestLoadStateLimit(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src  string
		want int64
		diag string
	}{
		"given":     {src: `job "x" { max_state_bytes = 8 * 1024 * 1024 }`, want: 8 << 20},
		"not given": {src: `job "x" {}`},
		"too small": {src: `job "x" { max_state_bytes = 100 }`, diag: "max_state_bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "job.hcl")
			if err := os.WriteFile(path, []byte(tc.src), 0o644); err != nil {
				t.Fatal(err)
			}
			job, diags := jobfile.Load(path, nil)
			if tc.diag != "" {
				if !diags.HasErrors() || !strings.Contains(diags.Error(), tc.diag) {
					t.Fatalf("diagnostics %v, want an error naming %s", diags, tc.diag)
				}
				return
			}
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if job.MaxStateBytes != tc.want {
				t.Errorf("MaxStateBytes = %d, want %d", job.MaxStateBytes, tc.want)
			}
		})
	}
}
