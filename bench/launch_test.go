package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// trivialJob writes a jobfile of n tasks that do nothing but pass.
func trivialJob(b *testing.B, n int) string {
	b.Helper()
	var body strings.Builder
	body.WriteString("job \"trivial\" { max_parallel = 2 }\n")
	for i := range n {
		fmt.Fprintf(&body, "task \"t%d\" {\n  pack = \"testpack\"\n  task = \"pass\"\n}\n", i)
	}
	return writeJob(b, b.TempDir(), body.String())
}

// BenchmarkLaunch: 500 tasks that do nothing, two at a time, against
// (a) xargs -P2 running the same pack binary's run mode 500 times, the
// floor for a process per task; (b) GNU parallel -j2 doing the same; and
// (c) pytest-xdist -n 2 running 500 empty tests. Per-task overhead is the
// wall time over 500.
func BenchmarkLaunch(b *testing.B) {
	const n = 500
	job := trivialJob(b, n)
	pack := filepath.Join(bin, "testpack")
	one := fmt.Sprintf("%s run pass -q --log /dev/null", pack)
	tests := filepath.Join(b.TempDir(), "test_empty.py")
	var py strings.Builder
	for i := range n {
		fmt.Fprintf(&py, "def test_%d():\n    pass\n", i)
	}
	if err := os.WriteFile(tests, []byte(py.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	peers := map[string][]string{
		"xargs":    {"sh", "-c", fmt.Sprintf("seq %d | xargs -P2 -I{} %s", n, one)},
		"parallel": {"sh", "-c", fmt.Sprintf("seq %d | parallel --will-cite -j2 %s", n, one)},
		"pytest":   {"/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", tests},
	}
	times := map[string]time.Duration{}
	var rss float64
	for b.Loop() {
		d, r, _ := runTaskhost(b, job)
		times["taskhost"] += d
		rss = max(rss, r)
		for name, cmd := range peers {
			if _, err := exec.LookPath(cmd[0]); err != nil {
				continue
			}
			if name == "parallel" {
				if _, err := exec.LookPath("parallel"); err != nil {
					continue
				}
			}
			times[name] += timed(b, cmd[0], cmd[1:]...)
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) / n }
	for name, d := range times {
		b.ReportMetric(per(d), name+"-ms/task")
	}
	if x := times["xargs"]; x > 0 {
		b.ReportMetric(float64(times["taskhost"])/float64(x), "x-xargs")
	}
	if p := times["parallel"]; p > 0 {
		b.ReportMetric(float64(times["taskhost"])/float64(p), "x-parallel")
	}
	b.ReportMetric(rss, "host-peak-MiB")
}

// BenchmarkScale: 1,000 and 10,000 trivial tasks, two at a time: wall
// time and the host's peak RSS; the ratio of the two wall times shows
// whether the cost per task grows with the job.
func BenchmarkScale(b *testing.B) {
	var walls [2]time.Duration
	var rss [2]float64
	for b.Loop() {
		for i, n := range []int{1000, 10000} {
			d, r, _ := runTaskhost(b, trivialJob(b, n))
			walls[i] += d
			rss[i] = max(rss[i], r)
		}
	}
	b.ReportMetric(walls[0].Seconds()/float64(b.N), "1k-s")
	b.ReportMetric(walls[1].Seconds()/float64(b.N), "10k-s")
	b.ReportMetric(float64(walls[1])/float64(walls[0]), "10k/1k")
	b.ReportMetric(rss[0], "1k-peak-MiB")
	b.ReportMetric(rss[1], "10k-peak-MiB")
}
