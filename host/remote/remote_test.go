package remote_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agent"
	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/logship"
	"github.com/taskhost/taskhost/host/packstore"
	"github.com/taskhost/taskhost/host/remote"
	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/internal/statekv/statekvtest"
	"github.com/taskhost/taskhost/internal/testbuild"
	"github.com/taskhost/taskhost/sdk/result"
)

// testpack is the path of internal/testpack, built once for the package.
var testpack string

func TestMain(m *testing.M) {
	testbuild.Main(m, map[*string]string{&testpack: "../../internal/testpack"}, nil)
}

// rig is a run's hub with a remote.Starter on it, and the agents a test
// starts.
type rig struct {
	t       *testing.T
	hub     *hub.Hub
	starter *remote.Starter
	runner  *attempt.Runner
	sum     string        // testpack's hex SHA-256
	logs    *logship.Sink // nil unless the rig takes the tasks' logs
}

func newRig(t *testing.T, cfg remote.Config) *rig { return newRigLogs(t, cfg, false) }

// newRigLogs makes a rig that, with logs, takes the log files the agents
// ship into the run directory, and gives each call a log directory.
func newRigLogs(t *testing.T, cfg remote.Config, logs bool) *rig {
	t.Helper()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	sum, err := launch.HexSHA256(testpack)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Conn, cfg.RunKey, cfg.StateSocket = h.Conn(), h.RunKey(), h.StateSocket()
	if cfg.Classes == nil {
		cfg.Classes = []string{"any"}
	}
	cfg.PackSHA256 = func(string) string { return sum }
	cfg.PackPath = func(string) string { return testpack }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runDir := t.TempDir()
	if logs {
		sink, err := logship.NewSink(ctx, logship.SinkConfig{Conn: h.Conn(), RunKey: h.RunKey(), RunDir: runDir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sink.Close)
		cfg.Logs, cfg.RunDir = sink, runDir
	}
	s, err := remote.NewStarter(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r := &attempt.Runner{Starter: s, Hub: h.Attempts(), RunDir: runDir}
	t.Cleanup(r.Wait)
	return &rig{t: t, hub: h, starter: s, runner: r, sum: sum, logs: cfg.Logs}
}

// agent starts an agent named name for class "any", until the test ends
// or stop is called.
func (r *rig) agent(name string, cfg agent.Config) (stop func()) {
	r.t.Helper()
	token, err := r.hub.AddAgent(name, []string{"any"})
	if err != nil {
		r.t.Fatal(err)
	}
	cfg.URL, cfg.Token, cfg.Name, cfg.RunKey = r.hub.URL(), token, name, r.hub.RunKey()
	cfg.Classes = []string{"any"}
	if cfg.CacheDir == "" { // its own, as on a machine of its own
		cfg.CacheDir = filepath.Join(r.t.TempDir(), "cache")
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 100 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				r.t.Errorf("agent %s: %v", name, err)
			}
		})
	}
	r.t.Cleanup(stop)
	return stop
}

// run runs task of testpack with args through the runner, in o.Slot (1
// if 0), as task t<slot>.
func (r *rig) run(task, args string, o attempt.Options) (attempt.Outcome, *remote.Pack) {
	r.t.Helper()
	return r.runAs("", task, args, o)
}

// runAs runs task of testpack as id ("" is t<slot>), in o.Slot (1 if 0),
// with its log directory tasks/<id> if the rig takes the logs.
func (r *rig) runAs(id, task, args string, o attempt.Options) (attempt.Outcome, *remote.Pack) {
	r.t.Helper()
	var pack *remote.Pack
	var mu sync.Mutex
	r.runner.Starter = starterFunc(func(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error) {
		p, err := r.starter.Start(ctx, c, out)
		if err == nil {
			mu.Lock()
			pack = p.(*remote.Pack)
			mu.Unlock()
		}
		return p, err
	})
	if o.Slot == 0 {
		o.Slot = 1
	}
	if id == "" {
		id = fmt.Sprintf("t%d", o.Slot)
	}
	o.RecordDir = "tasks/" + id
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := attempt.Call{Pack: "testpack", Task: task, Args: []byte(args), RunID: "run", ID: id, Attempt: 1}
	if r.logs != nil {
		c.LogDir = filepath.Join(r.runner.RunDir, o.RecordDir)
	}
	out := r.runner.Run(ctx, c, o)
	mu.Lock()
	defer mu.Unlock()
	return out, pack
}

type starterFunc func(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error)

func (f starterFunc) Start(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error) {
	return f(ctx, c, out)
}

// gone says whether process pid is gone (or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(after, "Z")
}

// A task's attempt, run through attempt.Runner with the remote Starter,
// runs on the agent in a pack process of its own, and ends with the
// pack's result and its events in the hub's tree; its timeout cancels
// the call on the agent; the process is gone once the attempt is over.
func TestAttemptRunsOnTheAgent(t *testing.T) {
	t.Parallel()
	r := newRig(t, remote.Config{})
	r.agent("a1", agent.Config{})
	for i, tc := range []struct {
		task, args string
		opts       attempt.Options
		result     result.Result
		reason     string
		sections   string
	}{
		{task: "pass", args: `{}`, result: result.Passed, sections: "ok"},
		{task: "fail", args: `{}`, result: result.Failed},
		// Its timeout cancels the call on the agent, and the task returns
		// within its grace.
		{task: "hold", args: `{"duration":"5m"}`, opts: attempt.Options{Timeout: time.Second, Grace: time.Minute},
			result: result.Aborted, reason: "timed out after 1s", sections: "hold"},
	} {
		tc.opts.Slot = i + 1 // each attempt has a slot of its own
		out, pack := r.run(tc.task, tc.args, tc.opts)
		if out.Result != tc.result || (tc.reason != "" && out.Reason != tc.reason) {
			t.Fatalf("%s: result %s (%s), want %s (%s)", tc.task, out.Result, out.Reason, tc.result, tc.reason)
		}
		if tc.task == "hold" && out.Sections[0].Result.Value != result.Aborted {
			t.Errorf("hold: its step %s, want aborted (it saw its context end)", out.Sections[0].Result.Value)
		}
		if pack == nil || pack.Agent() != "a1" {
			t.Fatalf("%s: pack %v, want one on agent a1", tc.task, pack)
		}
		if out.PID == 0 || out.PID == os.Getpid() {
			t.Fatalf("%s: pid %d, want the pack process's own", tc.task, out.PID)
		}
		var names []string
		for _, s := range out.Sections {
			names = append(names, s.Name)
		}
		if tc.sections != "" && strings.Join(names, ",") != tc.sections {
			t.Errorf("%s: sections %q, want %q (from the hub's tree)", tc.task, names, tc.sections)
		}
		if tc.result == result.Failed && len(names) == 0 {
			t.Errorf("%s: no sections in the hub's tree", tc.task)
		}
		r.runner.Wait()
		waitGone(t, out.PID)
	}
}

// The agent runs the pack binary it fetched from the hub's packs store
// by the work's hash into its empty cache; an agent that fetches an
// object whose bytes do not have that hash (it was replaced in the
// store) starts nothing, keeps nothing, and the host is told why, with
// both hashes.
func TestPackFetchedByHash(t *testing.T) {
	t.Parallel()
	r := newRig(t, remote.Config{})
	dir := filepath.Join(t.TempDir(), "a1cache")
	stop := r.agent("a1", agent.Config{CacheDir: dir})
	out, _ := r.run("pass", `{}`, attempt.Options{})
	if out.Result != result.Passed {
		t.Fatalf("pass: %s (%s)", out.Result, out.Reason)
	}
	if got, err := launch.HexSHA256(filepath.Join(dir, r.sum)); err != nil || got != r.sum {
		t.Fatalf("the agent's cache: %s (%v), want the testpack (%s)", got, err, r.sum)
	}
	r.runner.Wait()
	stop()

	js, err := jetstream.New(r.hub.Conn())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obs, err := js.ObjectStore(ctx, packstore.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	bad := []byte("#!/bin/sh\necho not the testpack\n")
	if _, err := obs.PutBytes(ctx, r.sum, bad); err != nil {
		t.Fatal(err)
	}
	badSum := fmt.Sprintf("%x", sha256.Sum256(bad))
	dir2 := filepath.Join(t.TempDir(), "a2cache")
	r.agent("a2", agent.Config{CacheDir: dir2})
	c := attempt.Call{Pack: "testpack", Task: "pass", Args: []byte(`{}`), RunID: "run", ID: "t2", Attempt: 1}
	p, err := r.starter.Start(ctx, c, io.Discard)
	if err == nil {
		p.Kill()
		t.Fatal("a pack started from a corrupt object")
	}
	for _, want := range []string{"differs", r.sum, badSum} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
	if des, _ := os.ReadDir(dir2); len(des) != 0 {
		t.Errorf("the corrupt object left %d files in the agent's cache", len(des))
	}
}

// A task on an agent reaches the run's state through the agent's bridge
// (its state socket is the agent's, not the host's): its Adds all count,
// each once, and it meets a local participant at a barrier.
func TestAgentTaskSharesState(t *testing.T) {
	t.Parallel()
	r := newRig(t, remote.Config{})
	dir := t.TempDir()
	sockets := make(chan string, 4)
	r.agent("a1", agent.Config{SocketDir: dir, Faults: agent.Faults{Call: func(_ string, c attempt.Call) { sockets <- c.Hub.StateSocket }}})

	out, _ := r.run("count", `{"key":"n","n":20}`, attempt.Options{Slot: 1})
	if out.Result != result.Passed {
		t.Fatalf("count on the agent: %s (%s)", out.Result, out.Reason)
	}
	socket := <-sockets
	if filepath.Dir(filepath.Dir(socket)) != dir {
		t.Fatalf("the task's state socket is %s, want the agent's bridge's in %s (the host's is %s)", socket, dir, r.hub.StateSocket())
	}
	st, err := r.hub.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(st["n"]) != "20" {
		t.Fatalf("the counter is %s, want 20", st["n"])
	}
	r.runner.Wait()

	// A barrier of two: the task on the agent, and a local participant.
	token := r.hub.AddTask("local", 9, "").Token
	local, p := statekvtest.Dial(t, r.hub.StateSocket(), token, "local")
	if p.Status != statekv.StatusOK {
		t.Fatalf("local hello: %+v", p)
	}
	// The local task's token was not the agent's to have: refused
	// through its bridge.
	if _, p := statekvtest.Dial(t, socket, token, "stolen"); p.Status != statekv.StatusDenied {
		t.Fatalf("a token not granted to the agent, through its bridge: %+v, want denied", p)
	}
	done := make(chan attempt.Outcome, 1)
	go func() {
		out, _ := r.run("barrier", `{"name":"b","n":2}`, attempt.Options{Slot: 2})
		done <- out
	}()
	for deadline := time.Now().Add(time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatal("the local participant was not let through the barrier")
		}
		p := local.Do(statekv.Request{Op: statekv.OpBarrier, Key: "b", Holder: "local", N: 2})
		if p.Status == statekv.StatusOK {
			break
		}
		if p.Status != statekv.StatusWait {
			t.Fatalf("local barrier: %+v", p)
		}
	}
	select {
	case out := <-done:
		if out.Result != result.Passed {
			t.Fatalf("barrier on the agent: %s (%s)", out.Result, out.Reason)
		}
	case <-time.After(time.Minute):
		t.Fatal("the task on the agent did not pass the barrier")
	}
	r.runner.Wait()

	// A watch on the agent sees every update a local task makes, in order.
	const updates = 200
	go func() {
		out, _ := r.run("watcher", fmt.Sprintf(`{"n":%d}`, updates), attempt.Options{Slot: 3})
		done <- out
	}()
	for deadline := time.Now().Add(time.Minute); local.Do(statekv.Request{Op: statekv.OpGet, Key: "w.ready"}).Status != statekv.StatusOK; {
		if time.Now().After(deadline) {
			t.Fatal("the watcher on the agent did not say it was ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 1; i <= updates; i++ {
		if p := local.Do(statekv.Request{Op: statekv.OpPut, ID: uint64(i), Key: "w.x", Value: []byte(strconv.Itoa(i))}); p.Status != statekv.StatusOK {
			t.Fatalf("put %d: %+v", i, p)
		}
	}
	select {
	case out := <-done:
		if out.Result != result.Passed {
			t.Fatalf("watcher on the agent: %s (%s)", out.Result, out.Reason)
		}
	case <-time.After(time.Minute):
		t.Fatal("the watcher on the agent did not see every update")
	}
}

// waitGone waits (up to 10 s) until process pid is gone.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !gone(pid); {
		if time.Now().After(end) {
			t.Fatalf("process %d still there", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Two agents take the same work (the first fetched it and held its claim
// past the ack wait, so it was offered to the second): the host grants
// it to the first to claim it, and the other is told it is taken and
// runs nothing.
func TestTwoAgentsClaimOneWork(t *testing.T) {
	t.Parallel()
	r := newRig(t, remote.Config{AckWait: 500 * time.Millisecond})
	fetched := make(chan string, 4)
	release := make(chan struct{})
	type claim struct {
		agent string
		ok    bool
	}
	claims := make(chan claim, 4)
	r.agent("slow", agent.Config{Faults: agent.Faults{
		BeforeClaim: func(id string) {
			fetched <- id
			<-release
		},
		Claimed: func(id string, ok bool) { claims <- claim{"slow", ok} },
	}})
	results := make(chan attempt.Outcome, 1)
	packs := make(chan *remote.Pack, 1)
	go func() {
		out, pack := r.run("pass", `{}`, attempt.Options{})
		results <- out
		packs <- pack
	}()
	select {
	case <-fetched:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow agent did not fetch the work")
	}
	r.agent("fast", agent.Config{Faults: agent.Faults{
		Claimed: func(id string, ok bool) { claims <- claim{"fast", ok} },
	}})
	var out attempt.Outcome
	select {
	case out = <-results:
	case <-time.After(60 * time.Second):
		close(release)
		t.Fatal("the attempt did not end")
	}
	if out.Result != result.Passed {
		t.Fatalf("result %s (%s), want passed", out.Result, out.Reason)
	}
	if p := <-packs; p.Agent() != "fast" {
		t.Fatalf("ran on %q, want the agent that claimed first (fast)", p.Agent())
	}
	close(release)
	got := map[string]bool{}
	for range 2 {
		select {
		case c := <-claims:
			got[c.agent] = c.ok
		case <-time.After(30 * time.Second):
			t.Fatalf("claims answered: %v, want both agents'", got)
		}
	}
	if !got["fast"] || got["slow"] {
		t.Fatalf("grants %v, want fast's claim granted and slow's refused", got)
	}
}

// An agent that stops heartbeating (its credential revoked, so it is
// cut off from the hub) is lost: the attempt ends "agent a1 lost", and
// the agent, no longer hearing the host, kills the pack.
func TestLostAgent(t *testing.T) {
	t.Parallel()
	// The host beats well within the agent's host timeout, so that only
	// being cut off makes the agent kill its pack.
	// The agent timeout is long enough that a loaded machine's late
	// heartbeats do not lose the agent before its pack started.
	r := newRig(t, remote.Config{AgentTimeout: 3 * time.Second, HostBeat: 200 * time.Millisecond})
	r.agent("a1", agent.Config{HostTimeout: time.Second})
	var pid int
	out, _ := r.run("hold", `{"duration":"5m"}`, attempt.Options{Started: func(p int, _ string) {
		pid = p
		go func() {
			time.Sleep(300 * time.Millisecond) // into the call
			r.hub.RemoveAgent("a1")
		}()
	}})
	if out.Result != result.Errored || out.Reason != "agent a1 lost" {
		t.Fatalf("result %s (%q), want errored (\"agent a1 lost\")", out.Result, out.Reason)
	}
	if pid == 0 {
		t.Fatal("the pack did not start")
	}
	waitGone(t, pid)
}

// An agent's token may publish on its own subjects only: not another
// agent's claim, not the host's heartbeat, not a task's events.
func TestAgentTokenIsConfined(t *testing.T) {
	t.Parallel()
	r := newRig(t, remote.Config{})
	token, err := r.hub.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.hub.AddAgent("a2", []string{"any"}); err != nil {
		t.Fatal(err)
	}
	n := agentwire.Names{RunKey: r.hub.RunKey()}
	errs := make(chan error, 16)
	nc, err := nats.Connect(r.hub.URL(), nats.Token(token), nats.CustomInboxPrefix(n.Inbox("a1")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	claim := agentwire.Encode(agentwire.Claim{Version: agentwire.Version, ID: "1"})
	for _, subject := range []string{n.Claim("a2"), n.HostHeartbeat(), "th." + r.hub.RunKey() + ".ev.t1", n.Work("any")} {
		if err := nc.Publish(subject, claim); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
				t.Errorf("publish to %s: %v, want a permissions violation", subject, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("publish to %s: allowed", subject)
		}
	}
	// Its own claim is let through (and answered by the host).
	m, err := nc.Request(n.Claim("a1"), claim, 10*time.Second)
	if err != nil {
		t.Fatalf("its own claim: %v", err)
	}
	var g agentwire.Grant
	if err := agentwire.Decode(m.Data, &g); err != nil || g.OK || g.Reason != "withdrawn" {
		t.Fatalf("its own claim of an unknown work: %+v, %v; want refused as withdrawn", g, err)
	}
	select {
	case err := <-errs:
		t.Fatalf("its own claim: %v", err)
	default:
	}
}
