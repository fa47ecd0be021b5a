package runner

import (
	"path/filepath"
	"sync"

	"github.com/taskhost/taskhost/host/htmlreport"
	"github.com/taskhost/taskhost/host/results"
)

// writeReports writes the files made from results.json for CI and people,
// junit.xml and report.html (docs/reports.md). One that
// cannot be written is logged: results.json, the record, is already there.
func (r *execution) writeReports(f *results.File) {
	// Each reads the record and the logs, and neither changes them: they
	// are written side by side.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := results.WriteJUnit(filepath.Join(r.dir, "junit.xml"), r.dir, f); err != nil {
			r.log.Error("junit.xml not written", "error", err)
		}
	})
	if err := htmlreport.Write(filepath.Join(r.dir, "report.html"), r.dir, f); err != nil {
		r.log.Error("report.html not written", "error", err)
	}
	wg.Wait()
}
