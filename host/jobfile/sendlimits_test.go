package jobfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/taskhost/taskhost/host/jobfile"
)

// The job block's limits on what tasks send are decoded as given, or 0
// (the hub's defaults) when not.
func TestLoadSendLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "job.hcl")
	src := `
job "x" {
  max_run_bytes   = 256 * 1024 * 1024
  max_task_bytes  = 16777216
  max_task_events = 50000
  max_event_bytes = 4096
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	job, diags := jobfile.Load(path, nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if job.MaxRunBytes != 256<<20 || job.MaxTaskBytes != 16<<20 || job.MaxTaskEvents != 50000 || job.MaxEventBytes != 4096 {
		t.Errorf("limits %d %d %d %d", job.MaxRunBytes, job.MaxTaskBytes, job.MaxTaskEvents, job.MaxEventBytes)
	}
	if err := os.WriteFile(path, []byte(`job "x" {}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if job, diags = jobfile.Load(path, nil); diags.HasErrors() || job.MaxRunBytes != 0 || job.MaxTaskEvents != 0 {
		t.Errorf("no limits given: %v %+v", diags, job)
	}
}
