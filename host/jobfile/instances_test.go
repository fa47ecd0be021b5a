package jobfile_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/taskhost/taskhost/host/jobfile"
)

// instancesJob has a task made by for_each over a map from a var file,
// whose args read each.key, each.value, another task's output and
// constants, and a task that reads one instance of it.
const instancesJob = `
variable "devices" {
  type = map(string)
}
job "j" {}
pack "p" { path = "p" }
task "setup" {
  pack = "p"
  task = "provide"
  args = { addr = "192.0.2.1", port = 22 }
}
task "check" {
  for_each = var.devices
  pack     = "p"
  task     = "consume"
  args = {
    device = each.key
    target = each.value
    addr   = task.setup.output.addr
    port   = 830
  }
  timeout = "30s"
}
task "last" {
  pack = "p"
  task = "consume"
  args = { device = task.check["d00000"].id }
}
`

// TestForEachWorkPerInstance: what a task block's expressions are, the
// tasks they read and their constant values are found once for the block,
// not once for each of its instances: an instance costs well under 100
// allocations (some 150 when each instance walked its expressions again).
func TestForEachWorkPerInstance(t *testing.T) {
	dir := t.TempDir()
	load := func(n int) float64 {
		devices := map[string]map[string]string{"devices": {}}
		for i := range n {
			devices["devices"][fmt.Sprintf("d%05d", i)] = fmt.Sprintf("10.%d.%d.1", i/250, i%250)
		}
		b, _ := json.Marshal(devices)
		varFile := filepath.Join(dir, fmt.Sprintf("inventory%d.json", n))
		if err := os.WriteFile(varFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := jobfile.Options{VarFiles: []string{varFile}}
		return testing.AllocsPerRun(2, func() {
			job, diags := jobfile.LoadSourceWith("job.hcl", []byte(instancesJob), opts)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if len(job.Tasks) != n+2 {
				t.Fatalf("%d tasks, want %d", len(job.Tasks), n+2)
			}
			if deps := job.Task("last").DependsOn; len(deps) != 1 || deps[0] != `check["d00000"]` {
				t.Fatalf("last depends on %q", deps)
			}
		})
	}
	small, large := load(500), load(2500)
	perInstance := (large - small) / 2000
	t.Logf("%.0f allocations for 500 instances, %.0f for 2,500: %.1f an instance", small, large, perInstance)
	if perInstance > 100 {
		t.Errorf("%.1f allocations an instance, want at most 100", perInstance)
	}
}
