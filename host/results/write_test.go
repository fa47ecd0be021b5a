package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// writeFile streams the record; it must give exactly what one
// json.MarshalIndent of the whole would.
func TestWriteFileMatchesMarshalIndent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 2, 0, 0, 0, time.FixedZone("CET", 3600))
	nested := &report.Node{Type: "step", ID: "1", Name: "s", StartTime: now,
		Result:   report.Outcome{Value: result.Failed, Reason: "r", Data: json.RawMessage(`{"a":[1,2]}`)},
		Sections: []*report.Node{{Type: "step", ID: "1.1", Name: "inner", Logs: &report.LogRef{File: "f", Begin: 3, Size: 4}}}}
	files := map[string]*File{
		"tasks and steps": {Version: 1, Report: Report{ID: "x", Name: "n", StartTime: now, Variables: map[string]any{"v": 1}, Tasks: []*Task{
			{ID: "a", Pack: "p", Task: "t", StartTime: now, Sections: []*report.Node{nested, {ID: "2"}}},
			{ID: "b", Sections: []*report.Node{}, Logs: []string{"tasks/b/pid-1.log"}},
		}}},
		"no tasks": {Version: 1, Report: Report{ID: "x", Tasks: []*Task{}}},
		"state": {Version: 1, Report: Report{ID: "x", RunDir: "r", Variables: map[string]any{"summary": 1}, State: map[string]json.RawMessage{
			"b": json.RawMessage(`{"x": [1, {"y": "<&>"}], "z": {}}`), "a": json.RawMessage(`1`), "a<b": json.RawMessage(`"s"`), "e": json.RawMessage(`[]`),
		}, Tasks: []*Task{{ID: "a", Sections: []*report.Node{}}}}},
	}
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := writeFile(w, f); err != nil {
				t.Fatal(err)
			}
			w.Flush()
			if d := cmp.Diff(string(want)+"\n", buf.String()); d != "" {
				t.Errorf("writeFile differs from json.MarshalIndent (-want +got):\n%s", d)
			}
		})
	}
}
