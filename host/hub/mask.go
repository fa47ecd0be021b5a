package hub

import (
	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
)

// maskEvent hides the sensitive values of m in every field of an event
// that a task sent, as the hub takes it in: whatever is made from the
// task's tree afterwards (results.json, junit.xml, report.html, run
// --json, the terminal, job.log) never sees them. Data stays valid JSON.
func maskEvent(m *mask.Masker, w *report.Sent) {
	if m.Empty() {
		return
	}
	// Kind, Type and Result are names the tree checks: left as they are.
	for _, s := range []*string{&w.Src, &w.ID, &w.Parent, &w.Name, &w.Reason} {
		*s = m.String(*s)
	}
	w.Data = m.JSON(w.Data)
	if l := w.Logs; l != nil {
		l.File = m.String(l.File)
	}
}
