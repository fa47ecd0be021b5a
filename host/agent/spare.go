package agent

import (
	"context"
	"time"

	"github.com/taskhost/taskhost/host/launch"
)

// As the host does for its own tasks (host/runner's spare.go), an agent
// starts a pack process ahead of the task that will take it: once it ran
// a work of a pack binary, it keeps one more process of that binary
// started, which the next work of the same hash takes instead of waiting
// for a start (exec, the Go runtime, the plugin handshake). It has run
// nothing before: it is a process per task, started early. A spare no
// work takes within spareIdle is stopped, and so is every spare when the
// agent stops serving the run.

// spareIdle is how long a spare waits for a work before it is stopped.
const spareIdle = 10 * time.Second

// spare is a pack process started ahead.
type spare struct {
	done   chan struct{} // closed when the start finished
	cancel context.CancelFunc
	proc   *launch.Process
	err    error
	out    *startLog // what it wrote before it served
	timer  *time.Timer
}

// takeSpare takes the spare of the binary hexsum, if there is one, and
// starts another in its place.
func (a *agent) takeSpare(hexsum string, cfg launch.Config) *spare {
	a.spareMu.Lock()
	defer a.spareMu.Unlock()
	sp := a.spares[hexsum]
	delete(a.spares, hexsum)
	if sp != nil {
		sp.timer.Stop()
	}
	a.fillSpareLocked(hexsum, cfg)
	return sp
}

// fillSpareLocked starts a spare of hexsum unless there is one, or the
// agent stops serving the run.
func (a *agent) fillSpareLocked(hexsum string, cfg launch.Config) {
	if a.spares == nil || a.spares[hexsum] != nil || a.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(a.ctx)
	sp := &spare{done: make(chan struct{}), cancel: cancel, out: &startLog{n: startOutput}}
	cfg.Stderr = sp.out
	a.spares[hexsum] = sp
	sp.timer = time.AfterFunc(spareIdle, func() {
		a.spareMu.Lock()
		mine := a.spares[hexsum] == sp
		if mine {
			delete(a.spares, hexsum)
		}
		a.spareMu.Unlock()
		if mine {
			a.stopSpare(sp)
		}
	})
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(sp.done)
		sp.proc, sp.err = launch.Start(ctx, cfg)
	}()
}

// stopSpare stops a spare no work took.
func (a *agent) stopSpare(sp *spare) {
	sp.cancel()
	<-sp.done
	if sp.proc != nil {
		sp.proc.Kill()
	}
}

// stopSpares stops every spare; if last, it starts no more.
func (a *agent) stopSpares(last bool) {
	a.spareMu.Lock()
	spares := a.spares
	if last {
		a.spares = nil
	} else if len(spares) > 0 {
		a.spares = map[string]*spare{}
	}
	a.spareMu.Unlock()
	for _, sp := range spares {
		sp.timer.Stop()
		a.stopSpare(sp)
	}
}
