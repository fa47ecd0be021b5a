package runner

import (
	"path/filepath"

	"github.com/taskhost/taskhost/host/results"
)

// writeReports writes the files made from results.json for people and CI
// (junit.xml; see docs/reports.md). One that cannot be written is logged:
// results.json, the record, is already there.
func (r *execution) writeReports(f *results.File) {
	if err := results.WriteJUnit(filepath.Join(r.dir, "junit.xml"), r.dir, f); err != nil {
		r.log.Error("junit.xml not written", "error", err)
	}
}
