package runner

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/hub"
)

// A run writes to its run directory throughout (the hub's store, the logs)
// and, at its end, results.json, junit.xml and report.html. When the disk
// fills, the hub's store stops writing (see host/hub/store.go): the run
// says so on the terminal as it happens, and again when the store writes
// again; if it does not within Options.StoreWait, the run stops as an
// interrupt stops it, with that reason. Either way the run ends by
// writing its record, in room it kept for that.

// reserveBytes is the room a run keeps in its run directory for the
// files it writes at its end: results.json of some 15,000 steps.
const reserveBytes = 8 << 20

// reserveName is the file that keeps that room.
const reserveName = ".reserve"

// reserve is room kept on the run directory's disk: a file that the run
// deletes when it has written everything but its record, so that a disk
// that filled meanwhile has room for results.json and the reports. It is
// not deleted when the disk fills: the tasks, still writing, would take
// the room.
type reserve struct {
	path string
}

// keepReserve makes the reserve file in dir. A reserve that cannot be
// made (the disk is short already) is logged, and the run goes on.
func keepReserve(dir string, log hclog.Logger) *reserve {
	path := filepath.Join(dir, reserveName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		err = allocate(f, reserveBytes)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(path)
		log.Warn("no room kept for the run's record", "error", err)
		return &reserve{}
	}
	return &reserve{path: path}
}

// writeRoom takes size bytes of disk for f by writing them: bytes no file
// system compresses away, unlike zeros.
func writeRoom(f *os.File, size int) error {
	rng := rand.NewChaCha8([32]byte{})
	buf := make([]byte, 1<<20)
	for n := 0; n < size; n += len(buf) {
		_, _ = rng.Read(buf)
		if _, err := f.Write(buf[:min(len(buf), size-n)]); err != nil {
			return err
		}
	}
	return nil
}

// release deletes the reserve file.
func (r *reserve) release() {
	if r.path != "" {
		os.Remove(r.path)
		r.path = ""
	}
}

// watchedWriter writes to a file of the run directory, and tells the hub
// when a write fails (the disk is full): its store shares the disk.
type watchedWriter struct {
	w      io.Writer
	failed atomic.Pointer[func(error)]
}

func (ww *watchedWriter) Write(p []byte) (int, error) {
	n, err := ww.w.Write(p)
	if err != nil {
		if f := ww.failed.Load(); f != nil {
			(*f)(err)
		}
	}
	return n, err
}

// onStore shows what the hub says of its store on the terminal and in the
// --json events as it happens; when the hub gives up, it stops the run
// with stop.
func (r *execution) onStore(stop context.CancelCauseFunc) func(hub.StoreEvent) {
	return func(e hub.StoreEvent) {
		// Paths in the run directory are shown from it.
		cause := strings.ReplaceAll(e.Err.Error(), r.dir+string(filepath.Separator), "")
		var msg, typ string
		switch {
		case e.GaveUp:
			typ = EventStoreFailed
			msg = fmt.Sprintf("the run's store has not written for %s: stopping the run", e.Wait)
			stop(fmt.Errorf("the run's store could not write for %s: %s", e.Wait, cause))
		case e.Failing:
			typ = EventStoreFailed
			what := "the run's store cannot write"
			if strings.Contains(cause, "no space left on device") {
				what = "the run's disk is full: its store cannot write"
			}
			msg = fmt.Sprintf("%s (%s); the tasks' events wait for it, up to %s", what, cause, e.Wait)
		default:
			typ = EventStoreRecovered
			msg = fmt.Sprintf("the run's store writes again, after %s", e.Down.Round(100*time.Millisecond))
		}
		r.log.Warn(msg)
		r.printf("%s", msg)
		r.event(Event{Type: typ, Time: time.Now(), Reason: msg})
	}
}
