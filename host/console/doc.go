// Package console shows a run on the terminal as it goes, from the
// runner's events: on a terminal, a live view redrawn in place (tasks
// running with their elapsed time, counts by result, the latest failure),
// drawn with Bubble Tea; elsewhere (CI, pipes, files), plain timestamped
// lines without escape codes. See docs/reports.md.
package console
