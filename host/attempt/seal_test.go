package attempt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/internal/report"
)

// TestLostEvents: the steps a returned task left open are "step never
// ended" when nothing was lost; when its end is missing and events it sent
// did not arrive, or the store failed during it, its events were not all
// recorded, and the store's failure says why (from the run directory).
func TestLostEvents(t *testing.T) {
	t.Parallel()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := &attempt.Runner{RunDir: "/runs/x"}
	open := func() *report.Tree {
		tree := report.NewTree()
		if err := tree.Add(report.Event{Seq: 1, Kind: report.KindStart, ID: "1", Name: "s", Type: report.TypeStep, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return tree
	}

	if lost := attempt.LostEvents(r, open(), 1, nil); lost != "" {
		t.Errorf("nothing lost: %q, want none", lost)
	}
	if lost := attempt.LostEvents(r, open(), 3, nil); lost != "its result events were not all recorded" {
		t.Errorf("events sent, not arrived: %q", lost)
	}
	ended := open()
	if err := ended.Add(report.Event{Seq: 2, Kind: report.KindEnd, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if lost := attempt.LostEvents(r, ended, 2, errors.New("anything")); lost != "" {
		t.Errorf("the task's end arrived: %q, want none", lost)
	}

	before := time.Now()
	h.WriteFailed(errors.New("write /runs/x/hub/1.blk: no space left on device"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for h.StoreTrouble(before) == nil && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if err := h.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	lost := attempt.LostEvents(r, open(), 1, h.StoreTrouble(before))
	const want = "its result events were not all recorded: the run's store could not write for "
	if !strings.HasPrefix(lost, want) || !strings.HasSuffix(lost, ": write hub/1.blk: no space left on device") {
		t.Errorf("the store failed: %q, want %q… naming the disk from the run directory", lost, want)
	}
}
