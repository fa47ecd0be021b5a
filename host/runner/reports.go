package runner

import (
	"path/filepath"

	"github.com/taskhost/taskhost/host/htmlreport"
	"github.com/taskhost/taskhost/host/results"
)

// writeReports writes the files made from results.json for CI and people,
// junit.xml and report.html (docs/reports.md). One that
// cannot be written is logged: results.json, the record, is already there.
func (r *execution) writeReports(f *results.File) {
	if err := results.WriteJUnit(filepath.Join(r.dir, "junit.xml"), r.dir, f); err != nil {
		r.log.Error("junit.xml not written", "error", err)
	}
	if err := htmlreport.Write(filepath.Join(r.dir, "report.html"), r.dir, f); err != nil {
		r.log.Error("report.html not written", "error", err)
	}
}
