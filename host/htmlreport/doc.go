// Package htmlreport writes report.html: one self-contained page (no
// network, no other file) that shows a run's record from results.json,
// with the job's summary, the tree of tasks, sections and steps, and each
// step's log lines on demand. See docs/reports.md.
package htmlreport
