package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/sdk/result"
)

// A task that puts values of 512 KiB into the shared state until it is
// refused, trying for 160 MiB, under max_state_bytes = 8 MiB: it is
// refused once the state would go over 8 MiB, with sdk.ErrStateFull and
// an error that names the limit; the host's memory does not follow what
// the task tried (its peak RSS, on a host built without -race, stays
// under 160 MiB: see TestFloodIsStopped); and the next task reads,
// counts, deletes and then puts a new key.
func TestStateFullRefusesWrites(t *testing.T) {
	t.Parallel()
	const limit = 8 << 20
	r := taskhostExe(t, plainHost(t), nil, "run", job(t, `
job "full" {
  max_state_bytes = 8 * 1024 * 1024
}
state {
  counter = 0
}
task "fill" {
  pack = "testpack"
  task = "statefill"
  args = { size = 524288, max = 320 }
}
task "after" {
  pack       = "testpack"
  task       = "stateafter"
  depends_on = [task.fill]
}
`))
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	fill := taskByID(t, f, "fill")
	var got struct {
		Puts  int    `json:"puts"`
		Error string `json:"error"`
		Full  bool   `json:"full"`
	}
	if len(fill.Sections) != 1 || json.Unmarshal(fill.Sections[0].Result.Data, &got) != nil {
		t.Fatalf("fill: %+v", fill.Sections)
	}
	if !got.Full || !strings.Contains(got.Error, "the shared state is full") || !strings.Contains(got.Error, "over its limit of 8388608 (max_state_bytes)") {
		t.Errorf("fill's last put: %q (ErrStateFull %v), want refused: the shared state is full, … over its limit of 8388608 (max_state_bytes)", got.Error, got.Full)
	}
	if got.Puts != 15 {
		t.Errorf("fill put %d values of 512 KiB, want 15 within 8 MiB", got.Puts)
	}
	if after := taskByID(t, f, "after"); after.Result.Value != result.Passed || len(after.Sections) != 4 {
		t.Errorf("after: %s %q with %d steps", after.Result.Value, after.Result.Reason, len(after.Sections))
	}
	var size int
	for k, v := range f.Report.State {
		size += len(k) + len(v)
	}
	if size > limit || string(f.Report.State["counter"]) != "1" || string(f.Report.State["other.ok"]) != "true" || f.Report.State["fill.1"] != nil {
		t.Errorf("the state at the end: %d bytes, counter %s, other.ok %s, fill.1 %d bytes", size,
			f.Report.State["counter"], f.Report.State["other.ok"], len(f.Report.State["fill.1"]))
	}
	rss := peakRSSKB(t, r.runDir(t))
	t.Logf("%d puts; host peak RSS %d KiB", got.Puts, rss)
	if rss > (128+32)<<10 {
		t.Errorf("the host's peak RSS was %d KiB, over the bound of 160 MiB", rss)
	}
}
