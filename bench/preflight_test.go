package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/doctor"
	"github.com/taskhost/taskhost/host/hub"
)

// BenchmarkPreflight: what `taskhost run` adds to every run before it
// starts, its checks of the machine (doctor without the hub), against
// starting and stopping the run's hub, which every run does anyway and
// doctor adds as its last check.
func BenchmarkPreflight(b *testing.B) {
	runs := filepath.Join(b.TempDir(), "runs")
	var pre, hubStart time.Duration
	for b.Loop() {
		t0 := time.Now()
		checks := doctor.Run(doctor.Config{RunsDir: runs})
		pre += time.Since(t0)
		if doctor.AnyFailed(checks) {
			b.Fatalf("preflight failed: %+v", checks)
		}
		dir, err := os.MkdirTemp("", "bench-hub-")
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		h, err := hub.Start(hub.Config{StoreDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
		hubStart += time.Since(t0)
		os.RemoveAll(dir)
	}
	b.ReportMetric(float64(pre.Microseconds())/float64(b.N), "preflight-µs")
	b.ReportMetric(float64(hubStart.Microseconds())/float64(b.N), "hub-µs")
	b.ReportMetric(float64(pre)/float64(hubStart), "x-hub")
}
