package results_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/report"
)

// The quiet summary lists only the tasks that did not pass, and how many
// did; both show a pack's control characters escaped.
func TestWriteQuietSummary(t *testing.T) {
	t.Parallel()
	r := &results.Report{Name: "j", Tasks: []*results.Task{
		{ID: "ok-1", Result: report.Outcome{Value: P}},
		{ID: "bad", Result: report.Outcome{Value: F, Reason: "1 \x1b[1mbold\x00"}},
		{ID: "ok-2", Result: report.Outcome{Value: P}},
	}}
	r.Finish()
	var quiet, full bytes.Buffer
	results.WriteQuietSummary(&quiet, r)
	results.WriteSummary(&full, r)
	q := quiet.String()
	if strings.Contains(q, "ok-") || !strings.HasPrefix(q, "TASK ") || !strings.Contains(q, `bad   FAILED  0s        1 \x1b[1mbold\x00`) ||
		!strings.Contains(q, "\n2 tasks that passed are not listed (-q)\n\nJob j: FAILED") {
		t.Errorf("quiet summary:\n%s", q)
	}
	if f := full.String(); !strings.Contains(f, "ok-1") || !strings.Contains(f, "ok-2") || strings.Contains(f, "not listed") || strings.ContainsAny(f, "\x1b\x00") {
		t.Errorf("summary:\n%s", f)
	}
	// All passed: no table, the count and the job's line.
	r.Tasks = r.Tasks[:1]
	r.Finish()
	quiet.Reset()
	results.WriteQuietSummary(&quiet, r)
	if q := quiet.String(); !strings.HasPrefix(q, "1 task that passed is not listed (-q)\n\nJob j: PASSED") {
		t.Errorf("quiet summary, all passed:\n%s", q)
	}
}
