package bench

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/htmlreport"
	"github.com/taskhost/taskhost/host/results"
)

// BenchmarkReports: the files made at the end of a run from its record,
// for a task of 100,000 steps (the run of BenchmarkReporting): junit.xml
// and report.html, each against writing results.json itself, the floor
// that every run pays already.
func BenchmarkReports(b *testing.B) {
	const steps = 100000
	dir := b.TempDir()
	job := writeJob(b, dir, `
job "reports" {}
task "many" {
  pack = "testpack"
  task = "many"
  args = { n = `+strconv.Itoa(steps)+` }
}
`)
	_, _, runDir := runTaskhost(b, job)
	f, err := results.Read(filepath.Join(runDir, "results.json"))
	if err != nil || len(f.Report.Tasks[0].Sections) != steps {
		b.Fatalf("results.json does not hold %d steps: %v", steps, err)
	}
	out := b.TempDir()
	var rj, ju, html time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := results.Write(filepath.Join(out, "results.json"), f); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := results.WriteJUnit(filepath.Join(out, "junit.xml"), runDir, f); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		if err := htmlreport.Write(filepath.Join(out, "report.html"), runDir, f); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		rj, ju, html = rj+t1.Sub(t0), ju+t2.Sub(t1), html+t3.Sub(t2)
	}
	n := float64(b.N)
	b.ReportMetric(rj.Seconds()/n, "results.json-s")
	b.ReportMetric(ju.Seconds()/n, "junit-s")
	b.ReportMetric(html.Seconds()/n, "html-s")
	b.ReportMetric(float64(ju)/float64(rj), "junit-x-floor")
	b.ReportMetric(float64(html)/float64(rj), "html-x-floor")
}
