// Package results is the record of a run: the job, its tasks and their
// result trees, written as results.json (schema in docs/results.md), and
// the same record as JUnit XML (junit.xml, docs/reports.md).
package results
