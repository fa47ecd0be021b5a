package statebridge_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/statebridge"
	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/internal/statekv/statekvtest"
	"github.com/taskhost/taskhost/internal/testfault"
)

// rig is a run's hub (which serves the state), a Responder on the host's
// connection, and agent a1's Front on the agent's own connection.
type rig struct {
	t     *testing.T
	hub   *hub.Hub
	resp  *statebridge.Responder
	front *statebridge.Front
	nc    *nats.Conn // a1's
}

func newRig(t *testing.T, cfg statebridge.ResponderConfig) *rig {
	t.Helper()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	cfg.Conn, cfg.RunKey, cfg.Socket = h.Conn(), h.RunKey(), h.StateSocket()
	resp, err := statebridge.NewResponder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(resp.Close)
	token, err := h.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	n := agentwire.Names{RunKey: h.RunKey()}
	nc, err := nats.Connect(h.URL(), nats.Token(token), nats.CustomInboxPrefix(n.Inbox("a1")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	front, err := statebridge.NewFront(statebridge.FrontConfig{Conn: nc, RunKey: h.RunKey(), Agent: "a1", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(front.Close)
	return &rig{t: t, hub: h, resp: resp, front: front, nc: nc}
}

// bridged and local connect a client of task's (its token) through the
// Front and straight to the host's socket, and check the hello is taken.
func (r *rig) bridged(token, writer string) *statekvtest.Client {
	r.t.Helper()
	return hello(r.t, r.front.Socket(), token, writer)
}

func (r *rig) local(token, writer string) *statekvtest.Client {
	r.t.Helper()
	return hello(r.t, r.hub.StateSocket(), token, writer)
}

func hello(t *testing.T, socket, token, writer string) *statekvtest.Client {
	t.Helper()
	c, p := statekvtest.Dial(t, socket, token, writer)
	if p.Status != statekv.StatusOK {
		t.Fatalf("hello on %s: %+v", socket, p)
	}
	return c
}

// closed waits for the connection to be closed without an answer.
func closed(t *testing.T, c *statekvtest.Client) {
	t.Helper()
	_ = c.C.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := statekv.ReadFrame(c.R, nil)
	if err == nil {
		p, _ := statekv.DecodeResponse(msg)
		t.Fatalf("answered %+v, want the connection closed", p)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%v, want the connection closed", err)
	}
}

// try sends q and reads its answer, or the error that ended the
// connection.
func try(c *statekvtest.Client, q statekv.Request) (statekv.Response, error) {
	c.Send(q)
	_ = c.C.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := statekv.ReadFrame(c.R, nil)
	if err != nil {
		return statekv.Response{}, err
	}
	return statekv.DecodeResponse(msg)
}

// The socket's directory is the agent's user's alone.
func TestFrontSocketDirIsPrivate(t *testing.T) {
	t.Parallel()
	r := newRig(t, statebridge.ResponderConfig{})
	st, err := os.Stat(filepath.Dir(r.front.Socket()))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("socket directory mode %v, want 0700", st.Mode().Perm())
	}
}

// Get, Put and Add through the bridge change the one state the host
// serves: a local task sees them, and the bridged task sees the local's.
func TestBridgeGetPutAdd(t *testing.T) {
	t.Parallel()
	r := newRig(t, statebridge.ResponderConfig{})
	remote := r.bridged(r.hub.AddTask("t1", 1, "").Token, "w1")
	local := r.local(r.hub.AddTask("t2", 2, "").Token, "w2")

	if p := remote.Do(statekv.Request{Op: statekv.OpPut, ID: 1, Key: "k", Value: []byte(`"v"`)}); p.Status != statekv.StatusOK || p.Rev == 0 {
		t.Fatalf("put through the bridge: %+v", p)
	}
	if p := local.Do(statekv.Request{Op: statekv.OpGet, Key: "k"}); p.Status != statekv.StatusOK || string(p.Value) != `"v"` {
		t.Fatalf("local get of the bridged put: %+v", p)
	}
	if p := local.Do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 5}); p.Status != statekv.StatusOK || p.N != 5 {
		t.Fatalf("local add: %+v", p)
	}
	if p := remote.Do(statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "n", Delta: 2}); p.Status != statekv.StatusOK || p.N != 7 {
		t.Fatalf("add through the bridge: %+v, want 7", p)
	}
	if p := remote.Do(statekv.Request{Op: statekv.OpGet, Key: "missing"}); p.Status != statekv.StatusNotFound {
		t.Fatalf("get of a missing key through the bridge: %+v", p)
	}
	if n := r.resp.Conns("a1"); n != 1 {
		t.Fatalf("the responder keeps %d connections for a1, want 1", n)
	}
	// The task's connection ends: so does the host's.
	remote.C.Close()
	deadline := time.Now().Add(30 * time.Second)
	for r.resp.Conns("a1") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the responder kept the connection of a closed task connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An Add whose answer is lost on the way back is not answered by the
// Front: it closes the task's connection, and the same request sent again
// on a new connection is answered from the server's record, applied once.
func TestBridgeLostAnswerAppliedOnce(t *testing.T) {
	t.Parallel()
	// The third answer is dropped: hello, the first Add, then the second.
	r := newRig(t, statebridge.ResponderConfig{Faults: testfault.Faults{DropEvery: 3}})
	token := r.hub.AddTask("t1", 1, "").Token
	c := r.bridged(token, "w1")
	if p := c.Do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 5}); p.Status != statekv.StatusOK || p.N != 5 {
		t.Fatalf("first add: %+v", p)
	}
	c.Send(statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "n", Delta: 7})
	closed(t, c)
	// The same writer asks again, on a new connection.
	c = r.bridged(token, "w1")
	if p := c.Do(statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "n", Delta: 7}); p.Status != statekv.StatusOK || p.N != 12 {
		t.Fatalf("the add sent again: %+v, want its first answer, 12", p)
	}
	local := r.local(r.hub.AddTask("t2", 2, "").Token, "w2")
	if p := local.Do(statekv.Request{Op: statekv.OpGet, Key: "n"}); string(p.Value) != "12" {
		t.Fatalf("the counter is %s, want 12 (each add once)", p.Value)
	}
}

// A lock taken through the bridge holds off a local task until it is
// released through the bridge; a bridged request the server holds is
// answered "wait" through the bridge, not cut off.
func TestBridgeLock(t *testing.T) {
	t.Parallel()
	r := newRig(t, statebridge.ResponderConfig{})
	remote := r.bridged(r.hub.AddTask("t1", 1, "").Token, "w1")
	local := r.local(r.hub.AddTask("t2", 2, "").Token, "w2")
	lock := statekv.Request{Op: statekv.OpLock, Key: "m", Dur: 30 * time.Second}

	q := lock
	q.Holder = "remote"
	if p := remote.Do(q); p.Status != statekv.StatusOK {
		t.Fatalf("lock through the bridge: %+v", p)
	}
	q.Holder = "local"
	if p := local.Do(q); p.Status != statekv.StatusWait {
		t.Fatalf("local lock of the bridged task's lock: %+v, want wait", p)
	}
	other := r.bridged(r.hub.AddTask("t3", 3, "").Token, "w3")
	q.Holder = "other"
	if p := other.Do(q); p.Status != statekv.StatusWait {
		t.Fatalf("a second bridged lock: %+v, want wait", p)
	}
	if p := remote.Do(statekv.Request{Op: statekv.OpUnlock, ID: 1, Key: "m", Holder: "remote"}); p.Status != statekv.StatusOK {
		t.Fatalf("unlock through the bridge: %+v", p)
	}
	q.Holder = "local"
	if p := local.Do(q); p.Status != statekv.StatusOK {
		t.Fatalf("local lock after the bridged unlock: %+v", p)
	}
}

// A barrier of two lets a local and a bridged participant go on together.
func TestBridgeBarrierMixed(t *testing.T) {
	t.Parallel()
	r := newRig(t, statebridge.ResponderConfig{})
	clients := map[string]*statekvtest.Client{
		"remote": r.bridged(r.hub.AddTask("t1", 1, "").Token, "w1"),
		"local":  r.local(r.hub.AddTask("t2", 2, "").Token, "w2"),
	}
	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for who, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				c.Send(statekv.Request{Op: statekv.OpBarrier, Key: "b", Holder: who, N: 2})
				_ = c.C.SetReadDeadline(time.Now().Add(30 * time.Second))
				msg, err := statekv.ReadFrame(c.R, nil)
				if err != nil {
					errs <- who + ": " + err.Error()
					return
				}
				p, _ := statekv.DecodeResponse(msg)
				switch p.Status {
				case statekv.StatusOK:
					return
				case statekv.StatusWait:
					continue
				}
				errs <- who + ": " + string(p.Status) + " " + p.Msg
				return
			}
			errs <- who + ": not released"
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A token the server refuses is refused through the bridge as it is
// directly; and a token of a task that Admit says is not the agent's is
// refused though the server would take it.
func TestBridgeRefusesTokens(t *testing.T) {
	t.Parallel()
	var mine string
	r := newRig(t, statebridge.ResponderConfig{Admit: func(agent, token string) bool { return agent == "a1" && token == mine }})
	mine = r.hub.AddTask("t1", 1, "").Token
	others := r.hub.AddTask("t2", 2, "").Token
	for what, socket := range map[string]string{"directly": r.hub.StateSocket(), "through the bridge": r.front.Socket()} {
		if _, p := statekvtest.Dial(t, socket, "not-a-token", "w"); p.Status != statekv.StatusDenied {
			t.Errorf("an unknown token %s: %+v, want denied", what, p)
		}
	}
	if _, p := statekvtest.Dial(t, r.hub.StateSocket(), others, "w"); p.Status != statekv.StatusOK {
		t.Fatalf("another task's token directly: %+v", p)
	}
	if _, p := statekvtest.Dial(t, r.front.Socket(), others, "w"); p.Status != statekv.StatusDenied {
		t.Errorf("another agent's task's token through the bridge: %+v, want denied", p)
	}
	if _, p := statekvtest.Dial(t, r.front.Socket(), mine, "w"); p.Status != statekv.StatusOK {
		t.Errorf("the agent's own task's token through the bridge: %+v", p)
	}
}

// When the agent is removed, its connections to the server close, and a
// request on one is not answered: the Front closes the task's connection.
func TestBridgeRemoveAgent(t *testing.T) {
	t.Parallel()
	r := newRig(t, statebridge.ResponderConfig{})
	c := r.bridged(r.hub.AddTask("t1", 1, "").Token, "w1")
	if n := r.resp.RemoveAgent("a1"); n != 1 {
		t.Fatalf("RemoveAgent closed %d connections, want 1", n)
	}
	c.Send(statekv.Request{Op: statekv.OpGet, Key: "k"})
	closed(t, c)
}

// A watch through the bridge sees every change, in order, with its
// revision, also when changes are lost on the way: the Front closes the
// watch, and the watcher opens it again from the last revision it saw, as
// the SDK does.
func TestBridgeWatchResumes(t *testing.T) {
	t.Parallel()
	// Every fifth message back (answers and changes) is dropped.
	r := newRig(t, statebridge.ResponderConfig{Faults: testfault.Faults{DropEvery: 5}})
	token := r.hub.AddTask("t1", 1, "").Token
	local := r.local(r.hub.AddTask("t2", 2, "").Token, "w2")

	const changes = 8
	open := func(from uint64) *statekvtest.Client {
		for {
			// An answer dropped closes the connection: try again.
			nc, err := net.Dial("unix", r.front.Socket())
			if err != nil {
				t.Fatal(err)
			}
			c := &statekvtest.Client{T: t, C: nc, R: bufio.NewReader(nc)}
			if p, err := try(c, statekv.Request{Op: statekv.OpHello, Key: token, Holder: "watcher"}); err != nil {
				nc.Close()
				continue
			} else if p.Status != statekv.StatusOK {
				t.Fatalf("hello: %+v", p)
			}
			p, err := try(c, statekv.Request{Op: statekv.OpWatch, Key: "w.", Rev: from})
			if err != nil {
				nc.Close()
				continue
			}
			if p.Status != statekv.StatusOK {
				t.Fatalf("watch: %+v", p)
			}
			t.Cleanup(func() { nc.Close() })
			return c
		}
	}
	// Rev 1 is a change of another prefix, which the watch does not show.
	local.Do(statekv.Request{Op: statekv.OpPut, ID: 1, Key: "x", Value: []byte("0")})
	c := open(0)
	var seen []uint64
	var wrote uint64
	reopened := 0
	deadline := time.Now().Add(60 * time.Second)
	for len(seen) < changes && time.Now().Before(deadline) {
		if wrote < changes && wrote <= uint64(len(seen))+1 {
			wrote++
			local.Do(statekv.Request{Op: statekv.OpPut, ID: 1 + wrote, Key: "w.x", Value: []byte(`1`)})
		}
		_ = c.C.SetReadDeadline(time.Now().Add(30 * time.Second))
		msg, err := statekv.ReadFrame(c.R, nil)
		if err != nil {
			from := uint64(0)
			if len(seen) > 0 {
				from = seen[len(seen)-1]
			}
			c.C.Close()
			c = open(from)
			reopened++
			continue
		}
		p, _ := statekv.DecodeResponse(msg)
		if p.Status != statekv.StatusChange || p.Key != "w.x" {
			t.Fatalf("watch sent %+v, want a change of w.x", p)
		}
		seen = append(seen, p.Rev)
	}
	for i, rev := range seen {
		if want := uint64(i + 2); rev != want {
			t.Fatalf("revisions seen %v, want 2..%d each once, in order", seen, changes+1)
		}
	}
	if len(seen) != changes {
		t.Fatalf("saw %d changes (%v), want %d", len(seen), seen, changes)
	}
	if reopened == 0 {
		t.Fatal("no change was dropped: the test tests nothing")
	}
}
