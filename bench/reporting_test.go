package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/results"
)

// BenchmarkReporting: one task reports 100,000 steps (200,000 events);
// the time until results.json is written, against the floor of the same
// task run by hand writing the same events to a local file with no host.
func BenchmarkReporting(b *testing.B) {
	const steps = 100000
	dir := b.TempDir()
	job := writeJob(b, dir, `
job "reporting" {}
task "many" {
  pack = "testpack"
  task = "many"
  args = { n = `+strconv.Itoa(steps)+` }
}
`)
	var host, floor time.Duration
	var rss float64
	for b.Loop() {
		d, r, runDir := runTaskhost(b, job)
		host += d
		rss = max(rss, r)
		f, err := results.Read(filepath.Join(runDir, "results.json"))
		if err != nil || len(f.Report.Tasks[0].Sections) != steps {
			b.Fatalf("results.json does not hold %d steps: %v", steps, err)
		}
		floor += timed(b, filepath.Join(bin, "testpack"), "run", "many", "--arg", "n="+strconv.Itoa(steps),
			"--events", filepath.Join(dir, "events.jsonl"), "--log", filepath.Join(dir, "floor.log"), "-q")
		os.Remove(filepath.Join(dir, "floor.log"))
	}
	n := float64(b.N)
	b.ReportMetric(host.Seconds()/n, "host-s")
	b.ReportMetric(floor.Seconds()/n, "floor-s")
	b.ReportMetric(host.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(2*steps*n/host.Seconds(), "events/s")
	b.ReportMetric(rss, "host-peak-MiB")
}

// BenchmarkLogging: one task logs 1,000,000 lines of about 100 bytes; the
// time until its log file is complete, against the same program writing
// the lines to a file directly (run by hand, no host), and against the
// physical floor of one write(2) per line of the same size.
func BenchmarkLogging(b *testing.B) {
	const lines = 1000000
	dir := b.TempDir()
	job := writeJob(b, dir, `
job "logging" {}
task "logs" {
  pack = "testpack"
  task = "logs"
  args = { n = `+strconv.Itoa(lines)+` }
}
`)
	var host, floor, raw time.Duration
	var rss float64
	for b.Loop() {
		d, r, runDir := runTaskhost(b, job)
		host += d
		rss = max(rss, r)
		log, err := os.ReadFile(filepath.Join(runDir, "tasks", "logs", "task.log"))
		if err != nil || bytes.Count(log, []byte("the quick brown fox")) != lines {
			b.Fatalf("task.log does not hold %d lines: %v", lines, err)
		}
		floorLog := filepath.Join(dir, "floor.log")
		floor += timed(b, filepath.Join(bin, "testpack"), "run", "logs", "--arg", "n="+strconv.Itoa(lines), "--log", floorLog, "-q")
		os.Remove(floorLog)
		raw += rawWrites(b, filepath.Join(dir, "raw.log"), lines)
	}
	n := float64(b.N)
	b.ReportMetric(host.Seconds()/n, "host-s")
	b.ReportMetric(floor.Seconds()/n, "floor-s")
	b.ReportMetric(raw.Seconds()/n, "raw-write-s")
	b.ReportMetric(host.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(rss, "host-peak-MiB")
}

// rawWrites writes lines lines of 100 bytes with one write(2) each.
func rawWrites(b *testing.B, path string, lines int) time.Duration {
	b.Helper()
	line := bytes.Repeat([]byte("x"), 99)
	line = append(line, '\n')
	start := time.Now()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for range lines {
		if _, err := f.Write(line); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	d := time.Since(start)
	os.Remove(path)
	return d
}
