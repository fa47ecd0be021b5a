package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/remote"
	"github.com/taskhost/taskhost/sdk/result"
)

// BenchmarkDispatch: the host dispatching tasks to simulated agents over a
// real embedded hub, against the floor of plain NATS request/reply on the
// same hub at the same concurrency.
//
// The host side is host/remote's Starter: for each task, Start, then
// Pack.Run, KillNow and Kill (as attempt.Runner does for a call that
// returned), with agents × slots tasks in flight. Each simulated agent has
// its own connection with its own token from hub.AddAgent and speaks the
// agents' wire (host/agentwire) as host/agent does, but starts no process:
// it fetches from its class's consumer, claims, acknowledges the message,
// reports Started with a made-up PID, and answers Run with an immediate
// Done that passed.
//
// A task costs 8 round trips: the work's publish (its PubAck), the agent's
// fetch, Claim, the message's ack (a double ack: a request), Started, the
// host's Run, the agent's Done, the host's Kill; and one message one way
// (KillNow). The floor is plain request/replies from the host's
// connection to the agents' connections (each answers on its control
// subject, round robin), with as many in flight as tasks: 8 × up to
// 20,000 of them before the dispatch, and as many after (the machine's
// load changes in between). x-floor is a task's time over 8 of the
// floor's round trips: 1 if the dispatch cost no more than its round
// trips.
//
// BENCH_DISPATCH_TASKS sets the number of tasks (default 10,000; the
// figures in docs/performance.md are of 100,000), BENCH_DISPATCH_AGENTS
// the agents (default 100), BENCH_DISPATCH_SLOTS each one's slots
// (default 4). Host memory is that of this whole process after the
// dispatch (the hub and the simulated agents are in it too): the heap in
// use after a GC, and the peak RSS (VmHWM, reset before the dispatch).
func BenchmarkDispatch(b *testing.B) {
	tasks := envInt(b, "BENCH_DISPATCH_TASKS", 10_000)
	agents := envInt(b, "BENCH_DISPATCH_AGENTS", 100)
	slots := envInt(b, "BENCH_DISPATCH_SLOTS", 4)
	rtts := min(tasks, 20_000) * dispatchRoundTrips // the floor's, before and after
	var d dispatchResult
	var floor time.Duration
	for b.Loop() {
		r := newDispatchRig(b, agents, slots)
		floor = r.floor(b, rtts, agents*slots)
		d = r.dispatch(b, tasks)
		r.check(b, tasks)
		floor += r.floor(b, rtts, agents*slots)
		r.close()
	}
	tasksPerSec := float64(tasks) / d.elapsed.Seconds()
	floorRate := float64(2*rtts) / floor.Seconds()
	b.ReportMetric(tasksPerSec, "tasks/s")
	b.ReportMetric(floorRate, "floor-rtt/s")
	b.ReportMetric(floorRate/dispatchRoundTrips/tasksPerSec, "x-floor")
	b.ReportMetric(float64(d.heapBefore)/(1<<20), "heap-start-MiB")
	b.ReportMetric(float64(d.heapAfter)/(1<<20), "heap-end-MiB")
	b.ReportMetric(float64(d.peakRSS)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(d.fetch409), "fetch-409s")
}

// TestDispatchOnce: every task dispatched to the simulated agents runs
// exactly once, passes, and leaves no work behind on the host or the
// agents.
func TestDispatchOnce(t *testing.T) {
	const tasks, agents, slots = 300, 10, 3
	r := newDispatchRig(t, agents, slots)
	defer r.close()
	r.dispatch(t, tasks)
	r.check(t, tasks)
}

// dispatchRoundTrips is how many round trips a task costs (see
// BenchmarkDispatch).
const dispatchRoundTrips = 8

func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// dispatchRig is a hub, a Starter on it and the simulated agents.
type dispatchRig struct {
	hub     *hub.Hub
	starter *remote.Starter
	agents  []*simAgent
	class   string
	slots   int

	// runs counts the times an agent was told to run each work, by the
	// work's id (the Starter's: 1, 2, ...); other counts the runs of
	// works with other ids.
	runs  []atomic.Int32
	other atomic.Int64
	// fetched counts the work messages the agents fetched, redelivered
	// those of them the consumer had delivered before; refused, the
	// claims the host refused; failed, the agents' requests that failed;
	// fetch409, the fetches refused for too many waiting.
	fetched, redelivered, refused, failed, fetch409 atomic.Int64
}

func newDispatchRig(tb testing.TB, agents, slots int) *dispatchRig {
	tb.Helper()
	h, err := hub.Start(hub.Config{StoreDir: filepath.Join(tb.TempDir(), "hub")})
	if err != nil {
		tb.Fatal(err)
	}
	// The Starter puts the pack's binary into the packs store once; no
	// agent fetches it.
	pack := filepath.Join(tb.TempDir(), "noop")
	if err := os.WriteFile(pack, []byte("a pack binary no agent runs\n"), 0o755); err != nil {
		tb.Fatal(err)
	}
	sum, err := launch.HexSHA256(pack)
	if err != nil {
		h.Close()
		tb.Fatal(err)
	}
	r := &dispatchRig{hub: h, class: "any", slots: slots}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r.starter, err = remote.NewStarter(ctx, remote.Config{Conn: h.Conn(), RunKey: h.RunKey(), Classes: []string{r.class},
		PackPath:   func(string) string { return pack },
		PackSHA256: func(string) string { return sum }})
	if err != nil {
		h.Close()
		tb.Fatal(err)
	}
	for i := range agents {
		a, err := r.startAgent(fmt.Sprintf("sim-%03d", i))
		if err != nil {
			r.close()
			tb.Fatal(err)
		}
		r.agents = append(r.agents, a)
	}
	return r
}

func (r *dispatchRig) close() {
	for _, a := range r.agents {
		a.stop()
	}
	if r.starter != nil {
		r.starter.Close()
	}
	r.hub.Close()
}

type dispatchResult struct {
	elapsed               time.Duration
	heapBefore, heapAfter uint64
	peakRSS               int64
	fetch409              int64
}

// dispatch runs tasks through the Starter, agents × slots at a time, and
// fails if one does not pass.
func (r *dispatchRig) dispatch(tb testing.TB, tasks int) dispatchResult {
	tb.Helper()
	var res dispatchResult
	r.runs = make([]atomic.Int32, tasks+1)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	res.heapBefore = ms.HeapInuse
	resetPeakRSS()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	start := time.Now()
	for range len(r.agents) * r.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(tasks); i = next.Add(1) {
				if err := r.one(ctx, i); err != nil {
					select {
					case errs <- err:
					default:
					}
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	res.heapAfter = ms.HeapInuse
	res.peakRSS = peakRSSBytes()
	res.fetch409 = r.fetch409.Load()
	return res
}

// one dispatches task i, as attempt.Runner does a call that returned.
func (r *dispatchRig) one(ctx context.Context, i int64) error {
	c := attempt.Call{Pack: "noop", Task: "nothing", Args: []byte("{}"), RunID: "run", ID: "t" + strconv.FormatInt(i, 10), Attempt: 1}
	p, err := r.starter.Start(ctx, c, io.Discard)
	if err != nil {
		return fmt.Errorf("task %d: %w", i, err)
	}
	reply, err := p.Run(ctx, c)
	if err != nil {
		return fmt.Errorf("task %d: %w", i, err)
	}
	if reply.Result != result.Passed {
		return fmt.Errorf("task %d: %s, want passed", i, reply.Result)
	}
	p.KillNow()
	p.Kill()
	return nil
}

// check fails unless every one of tasks works was run once, none was
// fetched twice or refused, and no agent holds a job.
func (r *dispatchRig) check(tb testing.TB, tasks int) {
	tb.Helper()
	var notOnce []string
	for id := 1; id <= tasks; id++ {
		if n := r.runs[id].Load(); n != 1 {
			notOnce = append(notOnce, fmt.Sprintf("%d ran %d times", id, n))
		}
	}
	if len(notOnce) > 0 || r.other.Load() != 0 {
		tb.Errorf("works not run once: %v (%d of %d); %d runs of other works", notOnce[:min(len(notOnce), 10)],
			len(notOnce), tasks, r.other.Load())
	}
	if n := r.fetched.Load(); n != int64(tasks) {
		tb.Errorf("the agents fetched %d work messages, want %d", n, tasks)
	}
	if n := r.redelivered.Load(); n != 0 {
		tb.Errorf("%d work messages were delivered more than once (or without JetStream metadata); want none", n)
	}
	if n, m := r.refused.Load(), r.failed.Load(); n != 0 || m != 0 {
		tb.Errorf("%d claims refused, %d agents' requests failed; want none", n, m)
	}
	// An agent's job ends when it answers Kill, before the host's Kill
	// returns.
	for _, a := range r.agents {
		a.mu.Lock()
		if len(a.jobs) != 0 {
			tb.Errorf("agent %s still has jobs %v", a.name, a.jobs)
		}
		a.mu.Unlock()
	}
}

// floor makes n plain request/replies from the host's connection to the
// agents' connections (round robin), inFlight at a time, each with a
// payload the size of a Run control; it returns the time they took.
func (r *dispatchRig) floor(tb testing.TB, n, inFlight int) time.Duration {
	tb.Helper()
	names := agentwire.Names{RunKey: r.hub.RunKey()}
	for _, a := range r.agents {
		a.floor.Store(true)
		defer a.floor.Store(false)
	}
	payload := agentwire.Encode(agentwire.Control{Version: agentwire.Version, Op: agentwire.OpRun, ID: "1",
		Run: &agentwire.Run{Version: agentwire.Version, ID: "1", Call: attempt.Call{Pack: "noop", Task: "nothing",
			Args: []byte("{}"), RunID: "run", ID: "t1", Attempt: 1}}})
	nc := r.hub.Conn()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				a := r.agents[int(i)%len(r.agents)]
				if _, err := nc.Request(names.Control(a.name), payload, 10*time.Second); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	if f := failed.Load(); f > 0 {
		tb.Fatalf("floor: %d of %d requests failed", f, n)
	}
	return d
}

// simAgent speaks the agents' wire as host/agent does, with a no-op
// executor: its packs are a made-up PID, and each call passes at once.
type simAgent struct {
	r      *dispatchRig
	name   string
	nc     *nats.Conn
	names  agentwire.Names
	slots  chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	floor  atomic.Bool // answer every control request at once, as the floor's peer
	// fetchInbox is where the answers to its fetches come, into
	// fetched ("": fetch with a plain request); waiting, whether a fetch
	// is not answered yet.
	fetchInbox string
	fetchedCh  chan *nats.Msg
	waiting    bool

	mu   sync.Mutex
	jobs map[string]bool // granted works, until killed
}

func (r *dispatchRig) startAgent(name string) (*simAgent, error) {
	token, err := r.hub.AddAgent(name, []string{r.class})
	if err != nil {
		return nil, err
	}
	a := &simAgent{r: r, name: name, names: agentwire.Names{RunKey: r.hub.RunKey()},
		slots: make(chan struct{}, r.slots), jobs: map[string]bool{}}
	labels := map[string]string{"os": runtime.GOOS, "arch": runtime.GOARCH}
	a.nc, err = nats.Connect(r.hub.URL(), nats.Token(token), nats.Name(agentwire.ConnName(name, labels)),
		nats.CustomInboxPrefix(agentwire.AgentInbox(name)))
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", name, err)
	}
	if _, err := a.nc.Subscribe(a.names.Control(name), a.control); err != nil {
		a.nc.Close()
		return nil, err
	}
	if _, err := a.nc.Subscribe(a.names.HostHeartbeat(), func(*nats.Msg) {}); err != nil {
		a.nc.Close()
		return nil, err
	}
	if os.Getenv("BENCH_DISPATCH_FETCH") != "request" {
		// A channel of its own, small: SubscribeSync's holds 65,536
		// messages, half a MiB for each agent.
		a.fetchInbox, a.fetchedCh = agentwire.AgentInbox(name)+".fetch", make(chan *nats.Msg, 8)
		if _, err := a.nc.ChanSubscribe(a.fetchInbox, a.fetchedCh); err != nil {
			a.nc.Close()
			return nil, err
		}
	}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.wg.Add(2)
	go a.beat()
	go a.pull()
	return a, nil
}

func (a *simAgent) stop() {
	a.cancel()
	a.wg.Wait()
	a.nc.Close()
}

// beat sends the agent's heartbeat every second, naming its jobs.
func (a *simAgent) beat() {
	defer a.wg.Done()
	t := time.NewTicker(time.Second)
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
		a.mu.Unlock()
		slices.Sort(running)
		_ = a.nc.Publish(agentwire.HeartbeatSubject(a.name), agentwire.Encode(agentwire.Heartbeat{
			Version: agentwire.Version, Agent: a.name, Classes: []string{a.r.class}, Slots: cap(a.slots),
			Free: cap(a.slots) - len(a.slots), Running: running, Time: time.Now()}))
	}
}

// pull fetches the class's work, one message per free slot, one fetch at
// a time, as host/agent's pull does. Unlike host/agent's fetch, it reads
// the answers to its fetches on a subscription of its own (see fetch).
func (a *simAgent) pull() {
	defer a.wg.Done()
	for {
		select {
		case a.slots <- struct{}{}:
		case <-a.ctx.Done():
			return
		}
		m, err := a.fetch()
		if err != nil || m.Header.Get("Status") != "" { // 404, 408: none; 409: too many fetches waiting
			<-a.slots
			if err == nil && m.Header.Get("Status") == "409" {
				a.r.fetch409.Add(1)
			}
			if err != nil {
				select {
				case <-a.ctx.Done():
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
			continue
		}
		a.r.fetched.Add(1)
		if md, err := m.Metadata(); err != nil || md.NumDelivered != 1 {
			a.r.redelivered.Add(1)
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.take(m)
		}()
	}
}

// fetchWait is how long a fetch waits for a work message (host/agent's).
const fetchWait = time.Second

// fetch asks the class's consumer for its next message and waits for the
// answer: a work message, or a status (Status header).
//
// It reads the answer on the agent's fetch inbox, a subscription of its
// own, and not with a plain request as host/agent does: JetStream
// delivers a work message with the work's subject, not the request's
// reply subject, so nats.go's shared request subscription cannot tell
// which request it answers and drops it whenever the connection has
// another request waiting (a claim, a report, another slot's ack). The
// message then waits out the consumer's AckWait (30 s) before it is
// offered again. BENCH_DISPATCH_FETCH=request fetches as host/agent does,
// to see it.
func (a *simAgent) fetch() (*nats.Msg, error) {
	req := fmt.Appendf(nil, `{"batch":1,"expires":%d}`, fetchWait.Nanoseconds())
	ctx, cancel := context.WithTimeout(a.ctx, fetchWait+2*time.Second)
	defer cancel()
	if a.fetchInbox == "" {
		return a.nc.RequestWithContext(ctx, a.names.Fetch(a.r.class), req)
	}
	// One fetch at a time: an answer that comes after its fetch timed out
	// is taken as the next one's, and no work message is dropped.
	if !a.waiting {
		if err := a.nc.PublishRequest(a.names.Fetch(a.r.class), a.fetchInbox, req); err != nil {
			return nil, err
		}
		a.waiting = true
	}
	select {
	case m := <-a.fetchedCh:
		a.waiting = false
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// take claims a fetched work, acknowledges its message, and reports its
// pack started; it frees the slot unless the work becomes a job.
func (a *simAgent) take(m *nats.Msg) {
	var w agentwire.Work
	if err := agentwire.Decode(m.Data, &w); err != nil {
		a.r.failed.Add(1)
		<-a.slots
		return
	}
	var g agentwire.Grant
	if err := a.request(a.names.Claim(a.name), agentwire.Claim{Version: agentwire.Version, ID: w.ID}, &g); err != nil {
		a.r.failed.Add(1)
		_ = a.nc.Publish(m.Reply, []byte("-NAK"))
		<-a.slots
		return
	}
	ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
	_, err := a.nc.RequestWithContext(ctx, m.Reply, []byte("+ACK"))
	cancel()
	if err != nil {
		a.r.failed.Add(1)
	}
	if !g.OK {
		a.r.refused.Add(1)
		<-a.slots
		return
	}
	a.mu.Lock()
	a.jobs[w.ID] = true
	a.mu.Unlock()
	var ans agentwire.Answer
	err = a.request(a.names.Started(a.name), agentwire.Started{Version: agentwire.Version, ID: w.ID, PID: 100000 + len(w.ID)}, &ans)
	if err != nil || ans.Error != "" {
		a.r.failed.Add(1)
		a.end(w.ID)
	}
}

// end forgets a job and frees its slot, once.
func (a *simAgent) end(id string) {
	a.mu.Lock()
	had := a.jobs[id]
	delete(a.jobs, id)
	a.mu.Unlock()
	if had {
		<-a.slots
	}
}

func (a *simAgent) request(subject string, v, answer any) error {
	ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
	defer cancel()
	m, err := a.nc.RequestWithContext(ctx, subject, agentwire.Encode(v))
	if err != nil {
		return err
	}
	return agentwire.Decode(m.Data, answer)
}

func (a *simAgent) answer(m *nats.Msg, v agentwire.Answer) {
	if m.Reply != "" {
		_ = m.Respond(agentwire.Encode(v))
	}
}

// control does what the host asks: a run passes at once (Done is sent
// once the run is answered), a kill ends the job.
func (a *simAgent) control(m *nats.Msg) {
	if a.floor.Load() {
		a.answer(m, agentwire.Answer{Version: agentwire.Version})
		return
	}
	var c agentwire.Control
	if err := agentwire.Decode(m.Data, &c); err != nil {
		a.answer(m, agentwire.Answer{Version: agentwire.Version, Error: err.Error()})
		return
	}
	a.mu.Lock()
	has := a.jobs[c.ID]
	a.mu.Unlock()
	switch c.Op {
	case agentwire.OpRun:
		if !has || c.Run == nil {
			a.answer(m, agentwire.Answer{Version: agentwire.Version, Error: fmt.Sprintf("no pack of work %s", c.ID)})
			return
		}
		if id, err := strconv.Atoi(c.ID); err == nil && id >= 1 && id < len(a.r.runs) {
			a.r.runs[id].Add(1)
		} else {
			a.r.other.Add(1)
		}
		a.answer(m, agentwire.Answer{Version: agentwire.Version})
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			d := agentwire.Done{Version: agentwire.Version, ID: c.ID, Reply: attempt.Reply{Result: result.Passed}}
			var ans agentwire.Answer
			if err := a.request(a.names.Done(a.name), d, &ans); err != nil || ans.Error != "" {
				a.r.failed.Add(1)
			}
		}()
	case agentwire.OpKill:
		a.end(c.ID)
		a.answer(m, agentwire.Answer{Version: agentwire.Version})
	case agentwire.OpWaitExit:
		a.answer(m, agentwire.Answer{Version: agentwire.Version, How: "exited", Exited: true})
	default: // killnow, cancel: nothing to do
		a.answer(m, agentwire.Answer{Version: agentwire.Version})
	}
}

// resetPeakRSS resets the process's peak RSS (VmHWM) to its RSS now
// (Linux: clear_refs 5); elsewhere, or if refused, it is left as is.
func resetPeakRSS() {
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSBytes is the process's peak RSS (VmHWM), or 0 where
// /proc/self/status is not.
func peakRSSBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
