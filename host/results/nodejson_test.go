package results

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// appendNode must write exactly what json.MarshalIndent writes.
func TestAppendNodeMatchesMarshalIndent(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 27, 2, 0, 0, 123456789, time.FixedZone("X", -5*3600))
	nodes := map[string]*report.Node{
		"bare": {},
		"full": {Type: "section", ID: "1", Name: `quote " back \ tab	 nl
 <html> & é 😀 ` + "\u2028 \x01 \xff",
			Result:    report.Outcome{Value: result.Passx, Reason: "r<>", Data: json.RawMessage(` { "k" : [1, 2.5e-7, "<b>"], "o": {} } `)},
			StartTime: at, StopTime: at.Add(time.Second), Runtime: 2.4096e-05, PID: 42,
			Logs: &report.LogRef{File: "tasks/a/task.log", Begin: 7, Size: 99},
			Sections: []*report.Node{
				{Type: "step", ID: "1.1", Runtime: 1e21, Sections: []*report.Node{{ID: "1.1.1", Runtime: math.SmallestNonzeroFloat64}}},
				{Type: "step", ID: "1.2", Runtime: 123456.75, Result: report.Outcome{Data: json.RawMessage(`"s"`)}},
			}},
	}
	for name, n := range nodes {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			want, err := json.MarshalIndent(n, "    ", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendNode(nil, n, "    ")
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("(-MarshalIndent +appendNode):\n%s", d)
			}
		})
	}
}
