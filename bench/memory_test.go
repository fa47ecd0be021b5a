package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/results"
)

// BenchmarkMemory: the host's peak memory on the runs that grow it most,
// one task of 1,000,000 steps (2,000,000 events) and 10,000 trivial
// tasks two at a time. Columns: each run's wall time, and the host's peak
// RSS twice: its own (VmHWM, as job.log records it), and the rusage Maxrss
// of the taskhost process, which Linux gives as the largest of it and the
// processes it reaped (the 1,000,000-step pack holds its own tree, and is
// larger than the host). Not in `make bench`: the two runs take minutes.
func BenchmarkMemory(b *testing.B) {
	const steps = 1000000
	many := writeJob(b, b.TempDir(), `
job "memory" {}
task "many" {
  pack = "testpack"
  task = "many"
  args = { n = `+strconv.Itoa(steps)+` }
}
`)
	trivial := trivialJob(b, 10000)
	var walls [2]time.Duration
	var own, maxrss [2]float64
	for b.Loop() {
		for i, job := range []string{many, trivial} {
			d, r, m, dir := runMeasured(b, job)
			walls[i] += d
			own[i], maxrss[i] = max(own[i], r), max(maxrss[i], m)
			if i == 0 {
				f, err := results.Read(filepath.Join(dir, "results.json"))
				if err != nil || len(f.Report.Tasks[0].Sections) != steps {
					b.Fatalf("results.json does not hold %d steps: %v", steps, err)
				}
			}
			os.RemoveAll(dir)
		}
	}
	n := float64(b.N)
	b.ReportMetric(walls[0].Seconds()/n, "1M-steps-s")
	b.ReportMetric(own[0], "1M-steps-host-MiB")
	b.ReportMetric(maxrss[0], "1M-steps-maxrss-MiB")
	b.ReportMetric(walls[1].Seconds()/n, "10k-tasks-s")
	b.ReportMetric(own[1], "10k-tasks-host-MiB")
	b.ReportMetric(maxrss[1], "10k-tasks-maxrss-MiB")
}

// runMeasured is runTaskhost, with the rusage Maxrss of the taskhost
// process in MiB too.
func runMeasured(b *testing.B, job string) (time.Duration, float64, float64, string) {
	b.Helper()
	runs := b.TempDir()
	cmd := exec.Command(filepath.Join(bin, "taskhost"), "run", "-q", "--runs-dir", runs, job)
	out, err := os.CreateTemp(b.TempDir(), "out-")
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		tail, _ := os.ReadFile(out.Name())
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		b.Fatalf("taskhost run %s: %v\n%s", job, err, tail)
	}
	entries, err := os.ReadDir(runs)
	if err != nil || len(entries) != 1 {
		b.Fatalf("want one run directory: %v %v", entries, err)
	}
	dir := filepath.Join(runs, entries[0].Name())
	own, err := peakRSS(filepath.Join(dir, "job.log"))
	if err != nil {
		b.Fatal(err)
	}
	var maxrss float64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return d, own, maxrss, dir
}
