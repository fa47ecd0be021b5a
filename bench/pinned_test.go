package bench

import (
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkPinnedLaunch: the cost of pinning. 300 trivial tasks, two at a
// time, with the pack unpinned (the floor) and pinned in a lock file, where
// every start hashes the binary again (go-plugin's SecureConfig) after the
// check of every binary before the run. Reports ms per task of each and
// the extra ms per task.
func BenchmarkPinnedLaunch(b *testing.B) {
	const n = 300
	plain := trivialJob(b, n)
	pinned := trivialJob(b, n)
	timed(b, filepath.Join(bin, "taskhost"), "packs", "lock", pinned)
	var tPlain, tPinned time.Duration
	for b.Loop() {
		d, _, _ := runTaskhost(b, plain)
		tPlain += d
		d, _, _ = runTaskhost(b, pinned)
		tPinned += d
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) / n }
	b.ReportMetric(per(tPlain), "unpinned-ms/task")
	b.ReportMetric(per(tPinned), "pinned-ms/task")
	b.ReportMetric(per(tPinned)-per(tPlain), "extra-ms/task")
}
