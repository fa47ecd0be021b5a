package agent

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/logship"
	"github.com/taskhost/taskhost/host/packstore"
	"github.com/taskhost/taskhost/host/statebridge"
	"github.com/taskhost/taskhost/internal/packwire"
)

// Config configures an agent. Zero values of the optional fields are
// fine.
type Config struct {
	// Conn, if set, is the agent's connection to the run's hub, which Run
	// uses and leaves open (Serve's); else Run connects to URL with Token
	// (hub.AddAgent) and closes its connection at the end.
	Conn       *nats.Conn
	URL, Token string
	// TaskURL and CA are how the agent's tasks reach the hub: its address
	// as seen from the agent, and the PEM certificate(s) its TLS
	// certificate is verified against. "" keeps what the host sent (a
	// hub on the same machine).
	TaskURL, CA string
	// Name is the agent's name, as the hub admitted it; required.
	Name string
	// RunKey is the key of the run to serve (hub.RunKey); required.
	RunKey string
	// Classes are the placement classes whose work it takes; at least
	// one.
	Classes []string
	// Slots is how many packs it runs at once; 0 is 1.
	Slots int
	// CacheDir is where it keeps the pack binaries it fetches from the
	// hub's packs store by the hash each work names (host/packstore);
	// required.
	CacheDir string
	// WorkDir is where each call gets a log directory of its own,
	// <WorkDir>/<run key>/<work id>/tasks/<id>, from which its files are
	// shipped to the host (host/logship); each is removed when its job
	// ends, and the run's when Run returns. "" is CacheDir's "work".
	WorkDir string
	// Heartbeat is how often it says it is there; 0 is 1s.
	Heartbeat time.Duration
	// HostTimeout is how long it runs a run's packs without hearing the
	// host; then it kills them all. 0 is 5s.
	HostTimeout time.Duration
	// SocketDir is where the packs' socket directories, and the state
	// socket's that the agent serves its tasks (host/statebridge), are
	// made (see launch.Config); "" is the system's temporary directory.
	SocketDir string
	// Supervisor, if set, keeps every process of its packs (see
	// launch.Supervisor).
	Supervisor *launch.Supervisor
	// Logger gets the agent's messages; nil discards them.
	Logger hclog.Logger
	// Faults are for taskhost's own tests; production leaves them zero.
	Faults Faults
}

// Faults let taskhost's own tests see and hold an agent at points of its
// loop; the zero value does nothing.
type Faults struct {
	// BeforeClaim, if set, is called with a work's id after the agent
	// fetched it and before it claims it.
	BeforeClaim func(id string)
	// Claimed, if set, is called with the host's answer to a claim.
	Claimed func(id string, granted bool)
	// Call, if set, is called with each call as the agent makes it in
	// the pack.
	Call func(id string, c attempt.Call)
	// Returned, if set, is called when a call returned in the pack,
	// before its logs are shipped to their end.
	Returned func(id string)
	// Shipped, if set, is called with a call's log directory once its
	// files are shipped, before the directory is removed.
	Shipped func(id, dir string)
}

type agent struct {
	cfg   Config
	names agentwire.Names
	nc    *nats.Conn
	front *statebridge.Front // the tasks' state socket
	log   hclog.Logger
	slots chan struct{} // one value per slot in use
	ctx   context.Context

	mu       sync.Mutex
	jobs     map[string]*job
	lastHost time.Time
	wg       sync.WaitGroup

	cacheMu sync.Mutex
	cache   *packstore.Cache // once the packs store is open

	spareMu sync.Mutex
	spares  map[string]*spare // by binary hash (spare.go); nil once the run ends
}

// job is a work the agent was granted, from the grant until its pack is
// killed.
type job struct {
	id     string
	proc   *launch.Process
	cancel context.CancelFunc // the call's, once it is made
	// stopShip stops its log shipping at once, without finishing it;
	// called is closed when the call's goroutine is over (its logs
	// shipped and its end reported); both are set with cancel.
	stopShip context.CancelFunc
	called   chan struct{}
	gone     bool          // end took it: a pack started now is killed
	ended    chan struct{} // closed once the pack is killed
	endOnce  sync.Once
}

// Run serves the run until ctx ends, or its connection is closed for
// good; then it kills every pack it started.
func Run(ctx context.Context, cfg Config) error {
	if (cfg.Conn == nil && (cfg.URL == "" || cfg.Token == "")) || cfg.Name == "" || cfg.RunKey == "" || cfg.CacheDir == "" || len(cfg.Classes) == 0 {
		return errors.New("agent: Conn or URL and Token, Name, RunKey, CacheDir and one class at least are required")
	}
	if cfg.Slots == 0 {
		cfg.Slots = 1
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Second
	}
	if cfg.HostTimeout == 0 {
		cfg.HostTimeout = 5 * time.Second
	}
	if cfg.WorkDir == "" {
		cfg.WorkDir = filepath.Join(cfg.CacheDir, "work")
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	a := &agent{cfg: cfg, names: agentwire.Names{RunKey: cfg.RunKey}, log: log,
		slots: make(chan struct{}, cfg.Slots), jobs: map[string]*job{}, lastHost: time.Now(), spares: map[string]*spare{}}
	closed := make(chan struct{})
	nc := cfg.Conn
	if nc == nil {
		var err error
		nc, err = nats.Connect(cfg.URL, nats.Token(cfg.Token), nats.Name("taskhost agent "+cfg.Name),
			nats.CustomInboxPrefix(a.names.Inbox(cfg.Name)), nats.MaxReconnects(-1), nats.IgnoreAuthErrorAbort(),
			nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
		if err != nil {
			return fmt.Errorf("agent %s: connect to %s: %w", cfg.Name, cfg.URL, err)
		}
		defer nc.Close()
	}
	a.nc = nc
	var err error
	a.front, err = statebridge.NewFront(statebridge.FrontConfig{Conn: nc, RunKey: cfg.RunKey, Agent: cfg.Name, Dir: cfg.SocketDir, Logger: log.Named("state")})
	if err != nil {
		return fmt.Errorf("agent %s: %w", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	a.ctx = ctx
	// The run's subscriptions name its run key. When the connection is
	// lost they are dropped, and made again only if it comes back to the
	// same server: a connection that comes back to another server (the
	// next run's hub, Serve's) must not ask it for the old run's
	// subjects, which it would refuse as a violation. On a cluster, any
	// of its nodes is the same hub.
	handlers := map[string]nats.MsgHandler{
		a.names.Control(cfg.Name): a.control,
		a.names.HostHeartbeat(): func(*nats.Msg) {
			a.mu.Lock()
			a.lastHost = time.Now()
			a.mu.Unlock()
		},
	}
	var subMu sync.Mutex
	var subs []*nats.Subscription
	subscribe := func() error {
		for subject, fn := range handlers {
			sub, err := nc.Subscribe(subject, fn)
			if err != nil {
				return fmt.Errorf("agent %s: %w", cfg.Name, err)
			}
			subs = append(subs, sub)
		}
		return nil
	}
	unsubscribe := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		subs = nil
	}
	defer func() {
		cancel()
		a.wg.Wait()
		a.stopSpares(true)
		a.killAll("the agent stops serving the run")
		subMu.Lock()
		unsubscribe()
		subMu.Unlock()
		a.front.Close()
		if err := os.RemoveAll(a.runDir()); err != nil {
			a.log.Warn("the run's log directories not removed", "error", err)
		}
	}()
	server, cluster := nc.ConnectedServerId(), nc.ConnectedClusterName()
	statuses := nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED, nats.CONNECTED)
	defer nc.RemoveStatusListener(statuses)
	subMu.Lock()
	err = subscribe()
	subMu.Unlock()
	if err != nil {
		return err
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case st := <-statuses:
				subMu.Lock()
				switch {
				case st != nats.CONNECTED:
					unsubscribe()
				case subs == nil && sameHub(nc, server, cluster):
					if err := subscribe(); err != nil {
						a.log.Warn("the run's subscriptions not made again", "error", err)
					}
				}
				subMu.Unlock()
			}
		}
	}()
	a.wg.Add(1 + len(cfg.Classes))
	go a.beat()
	for _, c := range cfg.Classes {
		go a.pull(c)
	}
	select {
	case <-ctx.Done():
		return nil
	case <-closed:
		return fmt.Errorf("agent %s: the connection to the hub closed: %v", cfg.Name, nc.LastError())
	}
}

// beat sends the heartbeat, and kills every pack when the host has not
// been heard for HostTimeout.
func (a *agent) beat() {
	defer a.wg.Done()
	t := time.NewTicker(a.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		running := make([]string, 0, len(a.jobs))
		for id := range a.jobs {
			running = append(running, id)
		}
		slices.Sort(running)
		silent := time.Since(a.lastHost)
		a.mu.Unlock()
		_ = a.nc.Publish(agentwire.HeartbeatSubject(a.cfg.Name), agentwire.Encode(agentwire.Heartbeat{
			Version: agentwire.Version, Agent: a.cfg.Name, Classes: a.cfg.Classes, Slots: a.cfg.Slots,
			Free: a.cfg.Slots - len(a.slots), Running: running, Time: time.Now()}))
		if silent > a.cfg.HostTimeout {
			a.stopSpares(false)
			if len(running) > 0 {
				a.killAll(fmt.Sprintf("the host was not heard for %s", silent.Round(time.Millisecond)))
			}
		}
	}
}

// killAll kills every pack the agent started.
func (a *agent) killAll(why string) {
	a.mu.Lock()
	jobs := make([]*job, 0, len(a.jobs))
	for _, j := range a.jobs {
		jobs = append(jobs, j)
	}
	a.mu.Unlock()
	if len(jobs) > 0 {
		a.log.Warn("killing every pack of the run", "reason", why, "packs", len(jobs))
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.end(j, false)
		}()
	}
	wg.Wait()
}

// flushWait bounds how long the end of a job the host asked for waits
// for the call's logs to be shipped and its end reported.
const flushWait = 25 * time.Second

// end kills the job's pack and everything it started, and frees its
// slot. With flush (the host asked for it), what the call's files hold
// is shipped and the call's end reported before it returns (up to
// flushWait); else (the host is not heard, or the agent stops) the
// shipping stops at once.
func (a *agent) end(j *job, flush bool) {
	j.endOnce.Do(func() {
		a.mu.Lock()
		proc, cancel, stopShip, called := j.proc, j.cancel, j.stopShip, j.called
		j.gone = true
		delete(a.jobs, j.id)
		a.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		if proc != nil {
			proc.Kill()
		}
		if stopShip != nil {
			if flush {
				select {
				case <-called:
				case <-time.After(flushWait):
				}
			}
			stopShip()
		}
		close(j.ended)
		<-a.slots
	})
}

// pull fetches the work of class, one message per free slot.
//
// The answers to its fetches come to an inbox of its own, not through
// the connection's request mechanism: JetStream delivers a work message
// under the work's subject, which that mechanism cannot match to its
// request once more than one request of the connection is in flight, and
// drops. A late answer to a fetch it gave up on is read as the answer to
// the next.
func (a *agent) pull(class string) {
	defer a.wg.Done()
	inbox := a.names.Inbox(a.cfg.Name) + ".fetch." + class
	answers := make(chan *nats.Msg, 8)
	sub, err := a.nc.ChanSubscribe(inbox, answers)
	if err != nil {
		a.log.Error("cannot fetch work", "class", class, "error", err)
		return
	}
	defer func() { _ = sub.Unsubscribe() }()
	req := []byte(fmt.Sprintf(`{"batch":1,"expires":%d}`, fetchWait.Nanoseconds()))
	for {
		select {
		case a.slots <- struct{}{}:
		case <-a.ctx.Done():
			return
		}
		m, err := a.fetch(class, inbox, req, answers)
		if m == nil {
			<-a.slots
			if err != nil {
				a.log.Debug("fetch", "class", class, "error", err)
				select {
				case <-a.ctx.Done():
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
			continue
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.take(m)
		}()
	}
}

// fetchWait is how long a fetch waits for a work message.
const fetchWait = time.Second

// fetch asks class's consumer for its next message, waiting up to
// fetchWait (and a little more for the answer); nil, nil if there was
// none.
func (a *agent) fetch(class, inbox string, req []byte, answers chan *nats.Msg) (*nats.Msg, error) {
	select {
	case m := <-answers: // an answer to a fetch given up on
		return fetched(m)
	default:
	}
	if err := a.nc.PublishRequest(a.names.Fetch(class), inbox, req); err != nil {
		return nil, err
	}
	t := time.NewTimer(fetchWait + 2*time.Second)
	defer t.Stop()
	select {
	case m := <-answers:
		return fetched(m)
	case <-t.C:
		return nil, nil
	case <-a.ctx.Done():
		return nil, a.ctx.Err()
	}
}

// fetched reads a fetch's answer: a work message, none (404 no
// messages, 408 timed out), or an error (409: too many fetches wait, or
// the consumer is gone; 503: no JetStream).
func fetched(m *nats.Msg) (*nats.Msg, error) {
	switch st := m.Header.Get("Status"); st {
	case "":
		if len(m.Data) == 0 {
			return nil, errors.New("an empty answer to a fetch")
		}
		return m, nil
	case "404", "408":
		return nil, nil
	default:
		return nil, fmt.Errorf("fetch: status %s %s", st, m.Header.Get("Description"))
	}
}

// take claims a fetched work and, if the host grants it, starts its
// pack. It holds a slot, which it frees unless the work becomes a job.
func (a *agent) take(m *nats.Msg) {
	var w agentwire.Work
	if err := agentwire.Decode(m.Data, &w); err != nil {
		a.log.Warn("a work message it cannot read; dropped", "error", err)
		_ = a.nc.Publish(m.Reply, []byte("+TERM"))
		<-a.slots
		return
	}
	if f := a.cfg.Faults.BeforeClaim; f != nil {
		f(w.ID)
	}
	var g agentwire.Grant
	err := a.request(a.names.Claim(a.cfg.Name), agentwire.Claim{Version: agentwire.Version, ID: w.ID}, &g)
	if err != nil {
		// The host did not answer: the work goes back to the queue.
		a.log.Warn("claim not answered; the work is given back", "work", w.ID, "error", err)
		_ = a.nc.Publish(m.Reply, []byte("-NAK"))
		<-a.slots
		return
	}
	if f := a.cfg.Faults.Claimed; f != nil {
		f(w.ID, g.OK)
	}
	// Granted or not, the message has its answer: it leaves the queue.
	actx, cancel := context.WithTimeout(a.ctx, requestTimeout)
	_, _ = a.nc.RequestWithContext(actx, m.Reply, []byte("+ACK"))
	cancel()
	if !g.OK {
		a.log.Debug("claim refused", "work", w.ID, "reason", g.Reason)
		<-a.slots
		return
	}
	j := &job{id: w.ID, ended: make(chan struct{})}
	a.mu.Lock()
	if a.jobs[w.ID] != nil { // claimed twice (a redelivery): it runs once
		a.mu.Unlock()
		<-a.slots
		return
	}
	a.jobs[w.ID] = j
	a.mu.Unlock()
	a.start(j, w)
}

// start starts the job's pack and tells the host.
func (a *agent) start(j *job, w agentwire.Work) {
	st := agentwire.Started{Version: agentwire.Version, ID: w.ID}
	out := &startLog{n: startOutput}
	proc, err := a.launch(w, out)
	if err == nil {
		a.mu.Lock()
		gone := j.gone
		if !gone {
			j.proc, st.PID = proc, proc.PID()
		}
		a.mu.Unlock()
		if gone { // the host withdrew it, or the agent stops
			proc.Kill()
			return
		}
	} else {
		st.Error = err.Error()
	}
	st.Output = out.take()
	if _, err := a.report(j, a.names.Started(a.cfg.Name), st); err != nil || st.Error != "" {
		a.end(j, true)
	}
}

// startOutput bounds what a pack's start-up output the agent sends.
const startOutput = 64 << 10

func (a *agent) launch(w agentwire.Work, out io.Writer) (*launch.Process, error) {
	if w.PackSHA256 == "" {
		return nil, fmt.Errorf("pack %s: the work names no SHA-256 to fetch its binary by", w.Call.Pack)
	}
	cache, err := a.packs()
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", w.Call.Pack, err)
	}
	path, err := cache.Path(a.ctx, w.PackSHA256)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", w.Call.Pack, err)
	}
	sum, _ := hex.DecodeString(w.PackSHA256) // Path took it: it is hex
	cfg := launch.Config{Path: path, SHA256: sum, Stderr: out, SocketDir: a.cfg.SocketDir, Supervisor: a.cfg.Supervisor}
	if sp := a.takeSpare(w.PackSHA256, cfg); sp != nil {
		select {
		case <-sp.done:
		case <-a.ctx.Done():
		}
		if sp.err == nil && sp.proc != nil && launch.StillVerified(path, sum) {
			_, _ = io.WriteString(out, sp.out.take())
			return sp.proc, nil
		}
		a.stopSpare(sp)
	}
	return launch.Start(a.ctx, cfg)
}

// packs is the agent's cache of pack binaries, on the hub's packs store,
// which it opens at the first work (the host makes it before it
// publishes work).
func (a *agent) packs() (*packstore.Cache, error) {
	a.cacheMu.Lock()
	defer a.cacheMu.Unlock()
	if a.cache != nil {
		return a.cache, nil
	}
	ctx, cancel := context.WithTimeout(a.ctx, requestTimeout)
	defer cancel()
	s, err := packstore.Open(ctx, a.nc)
	if err != nil {
		return nil, err
	}
	a.cache = &packstore.Cache{Dir: a.cfg.CacheDir, Store: s}
	return a.cache, nil
}

// report sends a report to the host, again until the host answers, the
// job ends or the agent stops.
func (a *agent) report(j *job, subject string, v any) (agentwire.Answer, error) {
	var ans agentwire.Answer
	for {
		err := a.request(subject, v, &ans)
		if err == nil {
			if ans.Error != "" {
				return ans, errors.New(ans.Error)
			}
			return ans, nil
		}
		a.log.Debug("report not answered; sending it again", "subject", subject, "error", err)
		select {
		case <-a.ctx.Done():
			return ans, a.ctx.Err()
		case <-j.ended:
			return ans, errors.New("the job ended")
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// requestTimeout bounds each request to the host.
const requestTimeout = 5 * time.Second

func (a *agent) request(subject string, v, answer any) error {
	ctx, cancel := context.WithTimeout(a.ctx, requestTimeout)
	defer cancel()
	m, err := a.nc.RequestWithContext(ctx, subject, agentwire.Encode(v))
	if err != nil {
		return err
	}
	return agentwire.Decode(m.Data, answer)
}

// control does what the host asks of a job.
func (a *agent) control(m *nats.Msg) {
	var c agentwire.Control
	if err := agentwire.Decode(m.Data, &c); err != nil {
		a.answer(m, agentwire.Answer{Version: agentwire.Version, Error: err.Error()})
		return
	}
	a.mu.Lock()
	j := a.jobs[c.ID]
	var proc *launch.Process
	if j != nil {
		proc = j.proc
	}
	a.mu.Unlock()
	if j != nil && proc == nil && c.Op == agentwire.OpKill {
		go func() { // withdrawn as it starts
			a.end(j, true)
			a.answer(m, agentwire.Answer{Version: agentwire.Version})
		}()
		return
	}
	if proc == nil {
		switch c.Op {
		case agentwire.OpKill, agentwire.OpKillNow, agentwire.OpCancel:
			a.answer(m, agentwire.Answer{Version: agentwire.Version}) // nothing left to do
		case agentwire.OpWaitExit:
			a.answer(m, agentwire.Answer{Version: agentwire.Version, How: "killed by the agent", Exited: true})
		default:
			a.answer(m, agentwire.Answer{Version: agentwire.Version, Error: fmt.Sprintf("no pack of work %s", c.ID)})
		}
		return
	}
	switch c.Op {
	case agentwire.OpRun:
		if c.Run == nil {
			a.answer(m, agentwire.Answer{Version: agentwire.Version, Error: "run without its call"})
			return
		}
		ctx, cancel := context.WithCancel(a.ctx)
		shipCtx, stopShip := context.WithCancel(a.ctx)
		a.mu.Lock()
		if j.cancel != nil { // asked again: it runs once
			a.mu.Unlock()
			cancel()
			stopShip()
			a.answer(m, agentwire.Answer{Version: agentwire.Version})
			return
		}
		j.cancel, j.stopShip, j.called = cancel, stopShip, make(chan struct{})
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(j.called)
			a.call(ctx, shipCtx, j, proc, c.Run)
		}()
		a.answer(m, agentwire.Answer{Version: agentwire.Version})
	case agentwire.OpCancel:
		a.mu.Lock()
		cancel := j.cancel
		a.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		a.answer(m, agentwire.Answer{Version: agentwire.Version})
	case agentwire.OpWaitExit:
		go func() {
			how, ok := proc.WaitExit(c.Wait)
			a.answer(m, agentwire.Answer{Version: agentwire.Version, How: how, Exited: ok})
		}()
	case agentwire.OpKillNow:
		proc.KillNow()
		a.answer(m, agentwire.Answer{Version: agentwire.Version})
	case agentwire.OpKill:
		go func() {
			a.end(j, true)
			a.answer(m, agentwire.Answer{Version: agentwire.Version})
		}()
	default:
		a.answer(m, agentwire.Answer{Version: agentwire.Version, Error: "unknown op " + c.Op})
	}
}

// call makes the call in the job's pack and reports how it returned.
// The call's log files are written in a directory of the job's own
// (logDir), and shipped from there if the host takes them.
func (a *agent) call(ctx, shipCtx context.Context, j *job, proc *launch.Process, run *agentwire.Run) {
	c := run.Call
	var ship *logship.Shipper
	if c.LogDir != "" {
		dir, err := a.logDir(j.id, run)
		if err != nil {
			a.log.Error("no log directory for the call; it is not made", "work", j.id, "error", err)
			a.reportDone(j, agentwire.Done{Version: agentwire.Version, ID: j.id, Error: err.Error()})
			return
		}
		defer func() {
			if err := os.RemoveAll(filepath.Dir(filepath.Dir(dir))); err != nil {
				a.log.Warn("the call's log directory not removed", "work", j.id, "error", err)
			}
		}()
		c.LogDir = dir
		if run.ShipLogs {
			ship, err = logship.Ship(shipCtx, logship.ShipperConfig{Conn: a.nc, RunKey: a.cfg.RunKey, Agent: a.cfg.Name,
				Slot: run.Slot, Dir: dir, From: run.LogSizes, Logger: a.log.Named("logs")})
			if err != nil {
				a.log.Error("the call's logs are not shipped", "work", j.id, "error", err)
			}
		}
	}
	if c.Hub.StateSocket != "" {
		// The host's socket is on the host: the task reaches the state
		// through the agent's bridge.
		c.Hub.StateSocket = a.front.Socket()
	}
	if a.cfg.TaskURL != "" {
		c.Hub.URL, c.Hub.CA = a.cfg.TaskURL, a.cfg.CA
	}
	if a.cfg.Faults.Call != nil {
		a.cfg.Faults.Call(j.id, c)
	}
	reply, err := packwire.Run(ctx, proc.Run, c)
	d := agentwire.Done{Version: agentwire.Version, ID: j.id, Reply: reply}
	if err != nil {
		d.Error, d.Cancelled = err.Error(), errors.Is(err, attempt.ErrCancelled)
	}
	if f := a.cfg.Faults.Returned; f != nil {
		f(j.id)
	}
	if ship != nil {
		fctx, cancel := context.WithTimeout(shipCtx, finishTimeout)
		if err := ship.Finish(fctx); err != nil {
			a.log.Warn("the call's logs are not all shipped", "work", j.id, "error", err)
		}
		cancel()
		d.Logs = ship.Acked()
	}
	if f := a.cfg.Faults.Shipped; f != nil && c.LogDir != "" {
		f(j.id, c.LogDir)
	}
	a.reportDone(j, d)
}

// finishTimeout bounds how long a call's end waits for its logs to be
// shipped.
const finishTimeout = 20 * time.Second

func (a *agent) reportDone(j *job, d agentwire.Done) {
	if _, err := a.report(j, a.names.Done(a.cfg.Name), d); err != nil {
		a.log.Warn("the call's end not reported", "work", j.id, "error", err)
	}
}

// runDir is the directory of the run's log directories.
func (a *agent) runDir() string { return filepath.Join(a.cfg.WorkDir, a.cfg.RunKey) }

// maxLogSize bounds the size of a file the host says it has already.
const maxLogSize = 1 << 40

// logDir makes the call's log directory, <run>/<work>/tasks/<id> (its
// last two names are those of the host's, as the pack names its log files
// by them), with each file of run.LogSizes in it as long as the host's
// (sparse).
func (a *agent) logDir(work string, run *agentwire.Run) (string, error) {
	kind, id := filepath.Base(filepath.Dir(run.Call.LogDir)), filepath.Base(run.Call.LogDir)
	if logship.CheckName(work) != nil {
		return "", fmt.Errorf("work id %q: not a plain name", work)
	}
	if logship.CheckName(kind) != nil || logship.CheckName(id) != nil {
		return "", fmt.Errorf("log directory %q: it must end in two plain names (tasks/<id>)", run.Call.LogDir)
	}
	dir := filepath.Join(a.runDir(), work, kind, id)
	if err := os.RemoveAll(filepath.Dir(filepath.Dir(dir))); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	for name, size := range run.LogSizes {
		if logship.CheckName(name) != nil || size < 0 || size > maxLogSize {
			return "", fmt.Errorf("log file %q of %d bytes: not a file the host can have", name, size)
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
		if err != nil {
			return "", err
		}
		err = f.Truncate(size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (a *agent) answer(m *nats.Msg, v agentwire.Answer) {
	if m.Reply != "" {
		_ = m.Respond(agentwire.Encode(v))
	}
}

// startLog keeps up to n bytes of what a pack writes until take, and
// drops the rest. (What a pack writes once it serves is not kept yet: it
// is for the log shipping to carry.)
type startLog struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int
}

func (l *startLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 {
		q := p[:min(len(p), l.n)]
		l.n -= len(q)
		l.b.Write(q)
	}
	return len(p), nil
}

// take returns what was kept, and keeps nothing more.
func (l *startLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n = 0
	return l.b.String()
}
