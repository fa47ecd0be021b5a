package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/logship"
	"github.com/taskhost/taskhost/host/packstore"
	"github.com/taskhost/taskhost/host/statebridge"
)

// Config configures a Starter. Zero values of the optional fields are
// fine.
type Config struct {
	// Conn is the host's connection to the run's hub (hub.Conn), which
	// may publish and subscribe anywhere; required.
	Conn *nats.Conn
	// RunKey is the hub's run key (hub.RunKey); required.
	RunKey string
	// Classes are the run's placement classes: each gets a durable pull
	// consumer of its own on the work stream; at least one.
	Classes []string
	// ClassOf says which class a call's work is published to; nil
	// publishes every call to the first class.
	ClassOf func(c attempt.Call) string
	// PackPath gives the path of a pack's binary on the host; required.
	// Start puts the binary into the hub's packs store (host/packstore)
	// under its SHA-256 before it publishes the work, once per binary,
	// and the agent fetches it from there by that hash.
	PackPath func(pack string) string
	// PackSHA256 gives the hex SHA-256 a pack's binary must have (its
	// pin), "" if it is not pinned; nil pins none. An unpinned binary is
	// hashed at each Start.
	PackSHA256 func(pack string) string
	// AgentTimeout is how long an agent may not name a work it was
	// granted in its heartbeats before it is lost; 0 is 5s.
	AgentTimeout time.Duration
	// Replicas is how many nodes of the hub's cluster hold the work
	// stream and the packs' object store; 0 is 1.
	Replicas int
	// AckWait is how long a work message fetched but neither claimed nor
	// given back waits before it is offered again; 0 is 30s.
	AckWait time.Duration
	// HostBeat is how often the host says it is there; 0 is 1s.
	HostBeat time.Duration
	// ControlTimeout bounds each request to an agent that should be
	// answered at once; 0 is 10s.
	ControlTimeout time.Duration
	// StateSocket is the host's state socket (hub.StateSocket). If set,
	// the Starter answers the agents' state bridges (host/statebridge)
	// through it, for the tasks of the work each agent was granted.
	StateSocket string
	// Logs, if set, takes the log files the agents ship (host/logship)
	// into RunDir, the run directory the sink writes to: a call whose
	// LogDir is in RunDir has its files shipped, and Run returns once the
	// host has every byte of them the agent shipped. Nil ships none.
	Logs   *logship.Sink
	RunDir string
	// Logger gets the Starter's messages (grants, lost agents); nil
	// discards them.
	Logger hclog.Logger
}

// Starter starts calls on agents. Its methods are safe for concurrent
// use.
type Starter struct {
	cfg   Config
	names agentwire.Names
	js    jetstream.JetStream
	packs *packstore.Store
	log   hclog.Logger
	subs  []*nats.Subscription
	state *statebridge.Responder // nil without Config.StateSocket
	stop  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	seq    int
	works  map[string]*work
	tokens map[string]*work // by the hub token its Run gave the agent

	putMu sync.Mutex
	put   map[string]bool // path and hash of each binary put
}

// work is one call's work, as the host keeps it from its publication
// until its pack was killed.
type work struct {
	id        string
	agent     string // granted to; "" until claimed
	token     string // the hub token its Run gave the agent
	withdrawn bool   // its Start gave up: no one may claim it
	seen      time.Time
	started   chan agentwire.Started
	done      chan agentwire.Done
	lost      chan struct{}
	isLost    bool
}

// NewStarter makes the run's work stream and its classes' consumers,
// and starts answering agents and sending the host's heartbeat. Close
// stops it.
func NewStarter(ctx context.Context, cfg Config) (*Starter, error) {
	if cfg.Conn == nil || cfg.RunKey == "" || cfg.PackPath == nil || len(cfg.Classes) == 0 {
		return nil, errors.New("remote: Conn, RunKey, PackPath and one class at least are required")
	}
	for _, c := range cfg.Classes {
		if err := agentwire.CheckName("class", c); err != nil {
			return nil, fmt.Errorf("remote: %w", err)
		}
	}
	if cfg.AgentTimeout == 0 {
		cfg.AgentTimeout = 5 * time.Second
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.HostBeat == 0 {
		cfg.HostBeat = time.Second
	}
	if cfg.ControlTimeout == 0 {
		cfg.ControlTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Starter{cfg: cfg, names: agentwire.Names{RunKey: cfg.RunKey}, log: log,
		stop: make(chan struct{}), works: map[string]*work{}, tokens: map[string]*work{}, put: map[string]bool{}}
	var err error
	if s.js, err = jetstream.New(cfg.Conn); err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	if s.packs, err = packstore.Create(ctx, cfg.Conn, cfg.Replicas); err != nil {
		return nil, fmt.Errorf("remote: %w", err)
	}
	stream, err := s.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       s.names.WorkStream(),
		Subjects:   []string{s.names.WorkAll()},
		Retention:  jetstream.WorkQueuePolicy,
		Replicas:   cfg.Replicas,
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("remote: create the work stream: %w", err)
	}
	for _, c := range cfg.Classes {
		_, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       agentwire.Consumer(c),
			FilterSubject: s.names.Work(c),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			// Every idle agent of the class keeps a fetch waiting: past this
			// many, fetches are refused (409) and the agents pause.
			MaxWaiting: 4096,
		})
		if err != nil {
			return nil, fmt.Errorf("remote: the consumer of class %s: %w", c, err)
		}
	}
	for subject, fn := range map[string]nats.MsgHandler{
		s.names.AnyAgent("claim"):   s.claim,
		s.names.AnyAgent("started"): s.started,
		s.names.AnyAgent("done"):    s.doneMsg,
		agentwire.AnyHeartbeat:      s.heartbeat,
	} {
		sub, err := cfg.Conn.Subscribe(subject, fn)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("remote: subscribe %s: %w", subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	if cfg.StateSocket != "" {
		s.state, err = statebridge.NewResponder(statebridge.ResponderConfig{Conn: cfg.Conn, RunKey: cfg.RunKey,
			Socket: cfg.StateSocket, Admit: s.admit, Logger: log.Named("state")})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("remote: %w", err)
		}
	}
	s.wg.Add(1)
	go s.beat()
	return s, nil
}

// admit says whether agent was granted the work whose hub token is token:
// only then may it speak for that task to the state server.
func (s *Starter) admit(agent, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.tokens[token]
	return w != nil && w.agent == agent && !w.isLost
}

// Close stops answering agents and sending the heartbeat.
func (s *Starter) Close() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	for _, sub := range s.subs {
		_ = sub.Unsubscribe()
	}
	if s.state != nil {
		s.state.Close()
	}
	s.wg.Wait()
}

// beat sends the host's heartbeat, and finds the lost agents' work.
func (s *Starter) beat() {
	defer s.wg.Done()
	t := time.NewTicker(min(s.cfg.HostBeat, s.cfg.AgentTimeout/4))
	defer t.Stop()
	last := time.Time{}
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			if now.Sub(last) >= s.cfg.HostBeat {
				last = now
				_ = s.cfg.Conn.Publish(s.names.HostHeartbeat(), agentwire.Encode(agentwire.HostBeat{Version: agentwire.Version, Time: now}))
			}
			s.findLost(now)
		}
	}
}

// findLost marks lost each granted work whose agent has not named it
// for AgentTimeout.
func (s *Starter) findLost(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.works {
		if w.agent != "" && !w.isLost && now.Sub(w.seen) > s.cfg.AgentTimeout {
			w.isLost = true
			close(w.lost)
			s.log.Warn("agent lost: it has not named its work in its heartbeats", "agent", w.agent, "work", w.id, "for", s.cfg.AgentTimeout)
		}
	}
}

// putPack puts the binary of pack into the packs store, under sum, or
// under its hash if sum is "", unless this Starter put it before; it
// returns the hash.
func (s *Starter) putPack(ctx context.Context, pack, sum string) (string, error) {
	path := s.cfg.PackPath(pack)
	if sum == "" {
		var err error
		if sum, err = launch.HexSHA256(path); err != nil {
			return "", err
		}
	}
	s.putMu.Lock()
	defer s.putMu.Unlock()
	if s.put[path+"\x00"+sum] {
		return sum, nil
	}
	if _, err := s.packs.Put(ctx, sum, path); err != nil {
		return "", err
	}
	s.put[path+"\x00"+sum] = true
	return sum, nil
}

// Start publishes c's work to its class, and returns once an agent that
// was granted it started its pack (what the pack wrote before it served
// goes to out). Cancelling ctx withdraws the work: an agent that claims
// it later is refused, and one that claimed it is told to kill its pack.
func (s *Starter) Start(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error) {
	class := s.cfg.Classes[0]
	if s.cfg.ClassOf != nil {
		class = s.cfg.ClassOf(c)
	}
	sum := ""
	if s.cfg.PackSHA256 != nil {
		sum = s.cfg.PackSHA256(c.Pack)
	}
	sum, err := s.putPack(ctx, c.Pack, sum)
	if err != nil {
		return nil, fmt.Errorf("pack %s not started: %w", c.Pack, err)
	}
	s.mu.Lock()
	s.seq++
	w := &work{id: strconv.Itoa(s.seq), started: make(chan agentwire.Started, 1),
		done: make(chan agentwire.Done, 1), lost: make(chan struct{})}
	s.works[w.id] = w
	s.mu.Unlock()

	c.Hub = attempt.HubAccess{} // no credentials in the work: they come with Run
	msg := agentwire.Encode(agentwire.Work{Version: agentwire.Version, ID: w.id, PackSHA256: sum, Call: c})
	// A publish that timed out is sent again under the same id: the
	// stream keeps one.
	for try := 0; try < 3; try++ {
		if _, err = s.js.Publish(ctx, s.names.Work(class), msg, jetstream.WithMsgID("w"+w.id)); err == nil || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		s.withdraw(w)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pack %s not started: %w", c.Pack, context.Cause(ctx))
		}
		return nil, fmt.Errorf("pack %s not started: publish its work: %w", c.Pack, err)
	}
	select {
	case st := <-w.started:
		if st.Output != "" {
			_, _ = io.WriteString(out, st.Output)
		}
		if st.Error != "" {
			s.forget(w)
			return nil, fmt.Errorf("agent %s: %s", w.agentName(s), st.Error)
		}
		return &Pack{s: s, w: w, agent: w.agentName(s), pid: st.PID}, nil
	case <-w.lost:
		s.forget(w)
		return nil, fmt.Errorf("pack %s not started: agent %s lost", c.Pack, w.agentName(s))
	case <-ctx.Done():
		s.withdraw(w)
		return nil, fmt.Errorf("pack %s not started: %w", c.Pack, context.Cause(ctx))
	}
}

func (w *work) agentName(s *Starter) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return w.agent
}

// withdraw forgets a work whose Start gave up, and tells its agent, if it
// had one, to kill its pack.
func (s *Starter) withdraw(w *work) {
	s.mu.Lock()
	w.withdrawn = true
	agent := w.agent
	delete(s.works, w.id)
	delete(s.tokens, w.token)
	s.mu.Unlock()
	if agent != "" {
		_ = s.cfg.Conn.Publish(s.names.Control(agent), agentwire.Encode(agentwire.Control{Version: agentwire.Version, Op: agentwire.OpKill, ID: w.id}))
	}
}

func (s *Starter) forget(w *work) {
	s.mu.Lock()
	delete(s.works, w.id)
	delete(s.tokens, w.token)
	s.mu.Unlock()
}

// claim grants a work to the first agent that claims it, and again to
// the same agent; any other is told it is taken.
func (s *Starter) claim(m *nats.Msg) {
	agent := s.names.AgentOf(m.Subject)
	var c agentwire.Claim
	if err := agentwire.Decode(m.Data, &c); err != nil || agent == "" {
		s.answer(m, agentwire.Grant{Version: agentwire.Version, Reason: fmt.Sprint("bad claim: ", err)})
		return
	}
	s.mu.Lock()
	w := s.works[c.ID]
	g := agentwire.Grant{Version: agentwire.Version}
	switch {
	case w == nil || w.withdrawn:
		g.Reason = "withdrawn"
	case w.agent == "" || w.agent == agent:
		if w.agent == "" {
			w.agent, w.seen = agent, time.Now()
			s.log.Debug("work granted", "work", w.id, "agent", agent)
		}
		g.OK = true
	default:
		g.Reason = "taken"
	}
	s.mu.Unlock()
	s.answer(m, g)
}

// owned finds the work that a report names, if the reporting agent was
// granted it.
func (s *Starter) owned(m *nats.Msg, id string) (*work, error) {
	agent := s.names.AgentOf(m.Subject)
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.works[id]
	switch {
	case w == nil:
		return nil, nil // done with: a report sent again, or too late
	case w.agent != agent:
		return nil, fmt.Errorf("work %s is not agent %s's", id, agent)
	}
	w.seen = time.Now()
	return w, nil
}

func (s *Starter) started(m *nats.Msg) {
	var st agentwire.Started
	if err := agentwire.Decode(m.Data, &st); err != nil {
		s.answer(m, agentwire.Answer{Version: agentwire.Version, Error: err.Error()})
		return
	}
	w, err := s.owned(m, st.ID)
	if err != nil {
		s.log.Warn("refused a report", "subject", m.Subject, "error", err)
		s.answer(m, agentwire.Answer{Version: agentwire.Version, Error: err.Error()})
		return
	}
	if w == nil {
		// Withdrawn: its agent must not keep the pack.
		s.answer(m, agentwire.Answer{Version: agentwire.Version, Error: "withdrawn"})
		return
	}
	if w != nil {
		select {
		case w.started <- st:
		default: // sent again
		}
	}
	s.answer(m, agentwire.Answer{Version: agentwire.Version})
}

func (s *Starter) doneMsg(m *nats.Msg) {
	var d agentwire.Done
	if err := agentwire.Decode(m.Data, &d); err != nil {
		s.answer(m, agentwire.Answer{Version: agentwire.Version, Error: err.Error()})
		return
	}
	w, err := s.owned(m, d.ID)
	if err != nil {
		s.log.Warn("refused a report", "subject", m.Subject, "error", err)
		s.answer(m, agentwire.Answer{Version: agentwire.Version, Error: err.Error()})
		return
	}
	if w != nil {
		select {
		case w.done <- d:
		default:
		}
	}
	s.answer(m, agentwire.Answer{Version: agentwire.Version})
}

// heartbeat keeps alive the work the agent names, if it is the agent's.
func (s *Starter) heartbeat(m *nats.Msg) {
	parts := strings.Split(m.Subject, ".")
	if len(parts) != 4 {
		return
	}
	agent := parts[2]
	var hb agentwire.Heartbeat
	if err := agentwire.Decode(m.Data, &hb); err != nil {
		s.log.Warn("bad heartbeat", "agent", agent, "error", err)
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range hb.Running {
		if w := s.works[id]; w != nil && w.agent == agent {
			w.seen = now
		}
	}
}

func (s *Starter) answer(m *nats.Msg, v any) {
	if m.Reply != "" {
		_ = m.Respond(agentwire.Encode(v))
	}
}

// Pack is a call's pack, started on an agent.
type Pack struct {
	s     *Starter
	w     *work
	agent string
	pid   int

	// The call's log shipping, once Run allowed it: logSlot is its hub
	// slot in Config.Logs, and logsOnce ends it.
	shipping bool
	logSlot  int
	logsOnce sync.Once
}

// Agent is the name of the agent that runs the pack.
func (p *Pack) Agent() string { return p.agent }

// PID is the pack process's id on its agent's machine.
func (p *Pack) PID() int { return p.pid }

func (p *Pack) lostErr() error { return fmt.Errorf("agent %s lost", p.agent) }

// control asks the agent to do op, and waits up to d for its answer.
func (p *Pack) control(ctx context.Context, ctl agentwire.Control, d time.Duration) (agentwire.Answer, error) {
	ctl.Version, ctl.ID = agentwire.Version, p.w.id
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	go func() {
		select {
		case <-p.w.lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	m, err := p.s.cfg.Conn.RequestWithContext(ctx, p.s.names.Control(p.agent), agentwire.Encode(ctl))
	if err != nil {
		if p.isLost() {
			return agentwire.Answer{}, p.lostErr()
		}
		return agentwire.Answer{}, fmt.Errorf("agent %s: %s: %w", p.agent, ctl.Op, err)
	}
	var a agentwire.Answer
	if err := agentwire.Decode(m.Data, &a); err != nil {
		return a, fmt.Errorf("agent %s: %s: %w", p.agent, ctl.Op, err)
	}
	if a.Error != "" {
		return a, fmt.Errorf("agent %s: %s: %s", p.agent, ctl.Op, a.Error)
	}
	return a, nil
}

func (p *Pack) isLost() bool {
	select {
	case <-p.w.lost:
		return true
	default:
		return false
	}
}

// Run makes the call on the agent, with the hub access c has, and waits
// until the agent reports how it returned. Cancelling ctx tells the agent
// to cancel the call, and Run returns at once; if the agent is lost, Run
// fails.
//
// With Config.Logs, the call's log files are shipped into its LogDir:
// Run returns once every byte the agent says it shipped is there (up to
// logsWait), or the agent is lost (what came, came).
func (p *Pack) Run(ctx context.Context, c attempt.Call) (attempt.Reply, error) {
	run := &agentwire.Run{Version: agentwire.Version, ID: p.w.id, Call: c}
	if err := p.allowLogs(run); err != nil {
		return attempt.Reply{}, err
	}
	if c.Hub.Token != "" {
		p.s.mu.Lock()
		p.w.token = c.Hub.Token
		p.s.tokens[c.Hub.Token] = p.w
		p.s.mu.Unlock()
	}
	if _, err := p.control(ctx, agentwire.Control{Op: agentwire.OpRun, Run: run}, p.s.cfg.ControlTimeout); err != nil {
		if ctx.Err() != nil {
			return attempt.Reply{}, fmt.Errorf("%w: %w", attempt.ErrCancelled, context.Cause(ctx))
		}
		return attempt.Reply{}, err
	}
	select {
	case d := <-p.w.done:
		p.endLogs(d.Logs)
		switch {
		case d.Cancelled:
			return d.Reply, fmt.Errorf("%w: %s", attempt.ErrCancelled, d.Error)
		case d.Error != "":
			return d.Reply, errors.New(d.Error)
		}
		return d.Reply, nil
	case <-p.w.lost:
		p.endLogs(nil)
		return attempt.Reply{}, p.lostErr()
	case <-ctx.Done():
		// The agent reports the call's end, and its logs, later: Kill
		// takes them.
		go func() {
			_, _ = p.control(context.Background(), agentwire.Control{Op: agentwire.OpCancel}, p.s.cfg.ControlTimeout)
		}()
		return attempt.Reply{}, fmt.Errorf("%w: %w", attempt.ErrCancelled, context.Cause(ctx))
	}
}

// WaitExit waits up to d for the pack to end by itself, as its agent
// sees it. A lost agent's pack is taken as ended: "agent NAME lost".
func (p *Pack) WaitExit(d time.Duration) (how string, ok bool) {
	if p.isLost() {
		return p.lostErr().Error(), true
	}
	a, err := p.control(context.Background(), agentwire.Control{Op: agentwire.OpWaitExit, Wait: d}, d+p.s.cfg.ControlTimeout)
	if err != nil {
		if p.isLost() {
			return p.lostErr().Error(), true
		}
		return "", false
	}
	return a.How, a.Exited
}

// KillNow tells the agent to kill the pack, and returns.
func (p *Pack) KillNow() {
	_ = p.s.cfg.Conn.Publish(p.s.names.Control(p.agent), agentwire.Encode(agentwire.Control{Version: agentwire.Version, Op: agentwire.OpKillNow, ID: p.w.id}))
}

// Kill tells the agent to kill the pack, and waits until it says the
// pack and what it started are gone (or the agent is lost, or does not
// answer in time); then the host forgets the work.
//
// A call that Run left (it was cancelled) has its logs ended here: the
// agent ships what the call wrote before it answers, and reports the
// call's end, whose acknowledged ends Kill waits for.
func (p *Pack) Kill() {
	defer p.s.forget(p.w)
	defer p.endReported()
	if p.isLost() {
		// Should it hear this, it kills the pack; it does so by itself
		// when it has not heard the host for its host timeout.
		p.KillNow()
		return
	}
	if _, err := p.control(context.Background(), agentwire.Control{Op: agentwire.OpKill}, 30*time.Second); err != nil {
		p.s.log.Warn("the agent did not say it killed the pack", "agent", p.agent, "work", p.w.id, "error", err)
	}
}

// logsWait bounds how long the host waits for the log chunks an agent
// says it shipped.
const logsWait = 30 * time.Second

// allowLogs tells the log sink that the pack's agent ships the call's
// log files, if the host takes them, and says so in run: the slot, and
// the sizes of the files already in the call's directory.
func (p *Pack) allowLogs(run *agentwire.Run) error {
	cfg := p.s.cfg
	if cfg.Logs == nil || run.Call.LogDir == "" {
		return nil
	}
	rel, err := filepath.Rel(cfg.RunDir, run.Call.LogDir)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("the call's log directory %s is not in the run directory %s", run.Call.LogDir, cfg.RunDir)
	}
	slot := run.Call.Hub.Slot
	if err := cfg.Logs.Allow(p.agent, slot, rel); err != nil {
		return err
	}
	sizes, err := logSizes(run.Call.LogDir)
	if err != nil {
		cfg.Logs.End(slot)
		return err
	}
	p.shipping, p.logSlot = true, slot
	run.ShipLogs, run.Slot, run.LogSizes = true, slot, sizes
	return nil
}

// logSizes are the sizes of the regular files in dir that a shipper may
// ship.
func logSizes(dir string) (map[string]int64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("the call's log directory: %w", err)
	}
	sizes := map[string]int64{}
	for _, de := range des {
		if !de.Type().IsRegular() || logship.CheckName(de.Name()) != nil {
			continue
		}
		if fi, err := de.Info(); err == nil && fi.Size() > 0 {
			sizes[de.Name()] = fi.Size()
		}
	}
	return sizes, nil
}

// endLogs waits (up to logsWait) until the sink has the call's files up
// to ends, and then ends the slot in the sink: chunks that come later are
// refused. Only the first call does anything.
func (p *Pack) endLogs(ends map[string]int64) {
	if !p.shipping {
		return
	}
	p.logsOnce.Do(func() {
		defer p.s.cfg.Logs.End(p.logSlot)
		if len(ends) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), logsWait)
		defer cancel()
		if err := p.s.cfg.Logs.Await(ctx, p.logSlot, ends); err != nil {
			p.s.log.Warn("the call's logs are not all on the host", "agent", p.agent, "work", p.w.id, "error", err)
		}
	})
}

// endReported ends the call's logs with the ends of the agent's report of
// the call's end, if it came and Run did not take it.
func (p *Pack) endReported() {
	select {
	case d := <-p.w.done:
		p.endLogs(d.Logs)
	default:
		p.endLogs(nil)
	}
}
