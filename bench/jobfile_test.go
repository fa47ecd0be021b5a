package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/plan"
)

// bigJob makes 10,001 tasks: one that sets an output, and 10,000 made by
// for_each over a map of devices given in a var file, each reading that
// output.
const bigJob = `
variable "devices" {
  type = map(string)
}

job "big" {
  max_parallel = 2
}

task "setup" {
  pack = "testpack"
  task = "provide"
  args = { addr = "192.0.2.1", port = 22 }
}

task "check" {
  for_each = var.devices
  pack     = "testpack"
  task     = "consume"
  args = {
    device = each.key
    target = each.value
    addr   = task.setup.output.addr
    port   = 830
  }
}
`

// BenchmarkValidateForEach measures `taskhost validate` of a 10,000-task
// jobfile made with for_each, the pack's description cached (what
// plan.Make does: load, expand, check every task's args against
// the schema), against loading it without the packs, and a floor: HCL
// parsing alone of the same jobfile and var file.
func BenchmarkValidateForEach(b *testing.B) {
	dir := b.TempDir()
	path := writeJob(b, dir, bigJob)
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	devices := map[string]map[string]string{"devices": {}}
	for i := range 10000 {
		devices["devices"][fmt.Sprintf("d%05d", i)] = fmt.Sprintf("10.%d.%d.1", i/250, i%250)
	}
	inventory, _ := json.Marshal(devices)
	varFile := filepath.Join(dir, "inventory.json")
	if err := os.WriteFile(varFile, inventory, 0o644); err != nil {
		b.Fatal(err)
	}
	opts := jobfile.Options{VarFiles: []string{varFile}}
	b.Setenv(plan.CacheDirEnv, b.TempDir())
	// Fill the cache: the one time the pack is started.
	p, diags := plan.Make(context.Background(), path, plan.Options{Jobfile: opts})
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	if n := len(p.Job.Tasks); n != 10001 {
		b.Fatalf("%d tasks, want 10001", n)
	}

	b.Run("validate-cached", func(b *testing.B) {
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			if _, diags := plan.Make(context.Background(), path, plan.Options{Jobfile: opts}); diags.HasErrors() {
				b.Fatal(diags)
			}
		}
		reportCPU(b, processCPU()-cpu)
	})
	b.Run("taskhost-validate-process", func(b *testing.B) {
		// The whole command, as a user runs it: process start included.
		var peak int64
		var cpu time.Duration
		for b.Loop() {
			cmd := exec.Command(filepath.Join(bin, "taskhost"), "validate", path, "-var-file", varFile)
			cmd.Env = append(os.Environ(), plan.CacheDirEnv+"="+os.Getenv(plan.CacheDirEnv))
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				peak = max(peak, ru.Maxrss)
			}
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
		reportCPU(b, cpu)
	})
	b.Run("load-only", func(b *testing.B) {
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			if _, diags := jobfile.LoadWith(path, opts); diags.HasErrors() {
				b.Fatal(diags)
			}
		}
		reportCPU(b, processCPU()-cpu)
	})
	b.Run("floor-hclparse", func(b *testing.B) {
		b.ReportAllocs()
		cpu := processCPU()
		for b.Loop() {
			p := hclparse.NewParser()
			if _, diags := p.ParseHCL(src, path); diags.HasErrors() {
				b.Fatal(diags)
			}
			if _, diags := p.ParseJSON(inventory, varFile); diags.HasErrors() {
				b.Fatal(diags)
			}
		}
		reportCPU(b, processCPU()-cpu)
	})
}

// processCPU is the CPU time this process has used so far, user and
// system, all its threads (the garbage collector's too).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time of one iteration, cpu-ms/op: less
// sensitive to other work on the machine than the wall time, ns/op.
func reportCPU(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}
