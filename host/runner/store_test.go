package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/result"
)

// TestReserveTakesRoom: the room a run keeps for its record is disk taken,
// not a sparse file, and is given back by release.
func TestReserveTakesRoom(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := keepReserve(dir, hclog.NewNullLogger())
	st, err := os.Stat(filepath.Join(dir, reserveName))
	if err != nil {
		t.Fatal(err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Blocks*512 < reserveBytes {
		t.Errorf("the reserve takes %d bytes of disk, want %d", sys.Blocks*512, reserveBytes)
	}
	r.release()
	if _, err := os.Stat(filepath.Join(dir, reserveName)); !os.IsNotExist(err) {
		t.Errorf("the reserve is still there after release: %v", err)
	}
}

// TestCloseReturned: the steps a returned task left open are "step never
// ended" when nothing was lost; when its end is missing and events it sent
// did not arrive, or the store failed during it, the task and the steps
// are Errored with its events not all recorded, and the store's failure.
func TestCloseReturned(t *testing.T) {
	t.Parallel()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := &execution{hub: h, dir: "/runs/x"}
	open := func() *report.Tree {
		tree := report.NewTree()
		if err := tree.Add(report.Event{Seq: 1, Kind: report.KindStart, ID: "1", Name: "s", Type: report.TypeStep, Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return tree
	}
	// check wants the task Errored and its reason and the open step's to
	// begin with wantReason and wantStep.
	check := func(name string, tree *report.Tree, res result.Result, reason, wantReason, wantStep string) {
		t.Helper()
		if res != result.Errored || !strings.HasPrefix(reason, wantReason) {
			t.Errorf("%s: %s %q, want Errored %q", name, res, reason, wantReason)
		}
		if s := tree.Sections[0].Result; s.Value != result.Errored || !strings.HasPrefix(s.Reason, wantStep) {
			t.Errorf("%s: the open step is %s %q, want Errored %q", name, s.Value, s.Reason, wantStep)
		}
	}

	tree := open()
	res, reason := r.closeReturned(tree, 1, time.Now(), result.Passed, "", time.Now())
	check("nothing lost", tree, res, reason, "1 s: step never ended", "step never ended")

	tree = open()
	res, reason = r.closeReturned(tree, 3, time.Now(), result.Passed, "", time.Now())
	check("events sent, not arrived", tree, res, reason, "its result events were not all recorded", "its result events were not all recorded")

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
	tree = open()
	res, reason = r.closeReturned(tree, 1, before, result.Failed, "the task's own", time.Now())
	const lost = "its result events were not all recorded: the run's store could not write for "
	check("the store failed", tree, res, reason, lost, lost)
	if !strings.Contains(reason, ": write hub/1.blk: no space left on device; the task's own") {
		t.Errorf("reason %q does not name the disk, from the run directory, then the task's own", reason)
	}
}
