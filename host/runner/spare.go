package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/host/launch"
)

// Every task attempt runs in a pack process of its own, but the process
// need not be started when the task's turn comes: starting one (exec, the
// Go runtime, the plugin handshake, TLS, gRPC) takes longer than a trivial
// task runs. So while a pack still has tasks waiting, the runner keeps one
// process of it started ahead, and a task whose turn comes takes it. That
// process has run nothing before: it is a process per task, started early.
// It does not count against max_parallel (it runs no task), and the spares
// left at the end of the run are stopped with it. Its start-up, before the
// task's turn, is not the task's: a task's timeout counts from its turn,
// and bounds only the wait for a spare still starting then.

// spareAhead is how many processes of one pack are started ahead.
const spareAhead = 1

// spare is a pack process started ahead of the task that will take it.
type spare struct {
	done   chan struct{} // closed when the start finished
	cancel func()        // stops the start
	proc   *launch.Process
	err    error
	out    *heldWriter // what the pack writes, held until a task takes it
}

// spares keeps each pack's processes started ahead.
type spares struct {
	log    hclog.Logger
	ctx    context.Context // the spares' starts; cancelled by close
	cancel func()

	mu     sync.Mutex
	closed bool
	ready  map[string][]*spare // by pack name, oldest first
	left   map[string]int      // attempts still to launch, by pack name
	wg     sync.WaitGroup
}

// newSpares keeps processes started ahead for the attempts left of each
// pack; ctx is the run's: once it ends (the job's timeout, an interrupt),
// the starts still going on stop.
func newSpares(ctx context.Context, log hclog.Logger, left map[string]int) *spares {
	ctx, cancel := context.WithCancel(ctx)
	return &spares{log: log, ctx: ctx, cancel: cancel, ready: map[string][]*spare{}, left: left}
}

func launchTo(ctx context.Context, cfg launch.Config, out io.Writer) (*launch.Process, error) {
	cfg.Stderr, cfg.Output = out, out
	return launch.Start(ctx, cfg)
}

// start starts pack, as cfg says, for the next attempt of one of its
// tasks: a spare if there is one, else a new process; and starts the next
// spare the same way if more attempts of the pack are to come. out
// receives what the process writes. Cancelling ctx stops the start, or
// the wait for a spare still starting.
func (s *spares) start(ctx context.Context, pack string, cfg launch.Config, out io.Writer) (*launch.Process, error) {
	s.mu.Lock()
	s.left[pack]--
	var sp *spare
	if q := s.ready[pack]; len(q) > 0 {
		sp, s.ready[pack] = q[0], q[1:]
	}
	s.fillLocked(pack, cfg)
	s.mu.Unlock()
	if sp == nil {
		return launchTo(ctx, cfg, out)
	}
	select {
	case <-sp.done:
	case <-ctx.Done():
		// The task is stopped before its spare served: stop the spare.
		sp.cancel()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-sp.done
			if sp.proc != nil {
				sp.proc.Kill()
			}
		}()
		return nil, fmt.Errorf("pack %s not started: %w", cfg.Path, context.Cause(ctx))
	}
	sp.out.release(out)
	if sp.err == nil && sp.proc.Exited() {
		// It died while it waited; a new one is as good.
		sp.proc.Kill()
		return launchTo(ctx, cfg, out)
	}
	if sp.err == nil && cfg.SHA256 != nil && !launch.StillVerified(cfg.Path, cfg.SHA256) {
		// A pinned binary may have changed since the spare started from
		// it: a new start checks the file as it is now.
		sp.proc.Kill()
		return launchTo(ctx, cfg, out)
	}
	return sp.proc, sp.err
}

// more says that one more attempt of pack is to come (a retry).
func (s *spares) more(pack string) {
	s.mu.Lock()
	s.left[pack]++
	s.mu.Unlock()
}

func (s *spares) fillLocked(pack string, cfg launch.Config) {
	for !s.closed && len(s.ready[pack]) < min(spareAhead, s.left[pack]) {
		ctx, cancel := context.WithCancel(s.ctx)
		sp := &spare{done: make(chan struct{}), cancel: cancel, out: &heldWriter{}}
		s.ready[pack] = append(s.ready[pack], sp)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(sp.done)
			defer cancel()
			sp.proc, sp.err = launchTo(ctx, cfg, sp.out)
			if sp.err == nil {
				s.log.Debug("pack started ahead of its task", "pack", pack, "pid", sp.proc.PID())
			}
		}()
	}
}

// close stops the spares no task took, once they started (or failed to:
// each start is bounded by its start timeout, and by the run's context),
// and waits until they are gone.
func (s *spares) close() {
	defer s.cancel()
	s.mu.Lock()
	s.closed = true
	var all []*spare
	for _, q := range s.ready {
		all = append(all, q...)
	}
	s.ready = map[string][]*spare{}
	s.mu.Unlock()
	for _, sp := range all {
		<-sp.done
		if sp.proc != nil {
			sp.proc.Kill()
			s.log.Debug("pack started ahead stopped unused", "pid", sp.proc.PID())
		}
	}
	s.wg.Wait()
}

// heldWriter keeps what is written to it (up to heldMax) until release
// gives it the writer where it belongs, and writes there from then on.
type heldWriter struct {
	mu   sync.Mutex
	w    io.Writer
	held bytes.Buffer
}

const heldMax = 64 << 10

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.w != nil {
		return h.w.Write(p)
	}
	if room := heldMax - h.held.Len(); room > 0 {
		h.held.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (h *heldWriter) release(w io.Writer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held.Len() > 0 {
		_, _ = w.Write(h.held.Bytes())
		h.held.Reset()
	}
	h.w = w
}
