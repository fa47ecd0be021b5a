package hub

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/statekv"
)

// stateClient speaks the state protocol on one connection, as the SDK
// does.
type stateClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialState(t *testing.T, socket, token, writer string) (*stateClient, statekv.Response) {
	t.Helper()
	c, err := net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc := &stateClient{t: t, c: c, r: bufio.NewReader(c)}
	return sc, sc.do(statekv.Request{Op: statekv.OpHello, Key: token, Holder: writer})
}

func (sc *stateClient) send(q statekv.Request) {
	sc.t.Helper()
	if _, err := sc.c.Write(statekv.AppendRequest(nil, &q)); err != nil {
		sc.t.Fatal(err)
	}
}

func (sc *stateClient) read() statekv.Response {
	sc.t.Helper()
	_ = sc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	msg, err := statekv.ReadFrame(sc.r, nil)
	if err != nil {
		sc.t.Fatal(err)
	}
	p, err := statekv.DecodeResponse(msg)
	if err != nil {
		sc.t.Fatal(err)
	}
	return p
}

func (sc *stateClient) do(q statekv.Request) statekv.Response {
	sc.t.Helper()
	sc.send(q)
	return sc.read()
}

func taskState(t *testing.T, h *Hub, task string, index int) *stateClient {
	t.Helper()
	creds := h.AddTask(task, index, "")
	tokens.Store(h.StateSocket()+"|"+task, creds.Token)
	sc, p := dialState(t, creds.StateSocket, creds.Token, "1/w")
	if p.Status != statekv.StatusOK {
		t.Fatalf("hello: %c %s", p.Status, p.Msg)
	}
	return sc
}

// TestStateRefusesStrangers: no token, a bad token, another run's token
// and a request before hello are all refused.
func TestStateRefusesStrangers(t *testing.T) {
	t.Parallel()
	a, b := startHub(t), startHub(t)
	other := b.AddTask("x", 1, "").Token
	a.AddTask("x", 1, "")
	for name, tok := range map[string]string{"no token": "", "bad token": "nope", "another run's token": other} {
		if _, p := dialState(t, a.StateSocket(), tok, "1/w"); p.Status != statekv.StatusDenied {
			t.Errorf("%s: status %c, want denied", name, p.Status)
		}
	}
	c, err := net.Dial("unix", a.StateSocket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := &stateClient{t: t, c: c, r: bufio.NewReader(c)}
	if p := sc.do(statekv.Request{Op: statekv.OpGet, Key: "k"}); p.Status != statekv.StatusDenied {
		t.Errorf("get before hello: status %c, want denied", p.Status)
	}
}

// TestStateAnswersResentWritesOnce: a write sent again with the same
// number, on another connection (as after a lost answer), gets the first
// answer and does not apply again; another writer's same number is its
// own.
func TestStateAnswersResentWritesOnce(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	c1 := taskState(t, h, "a", 1)
	add := statekv.Request{Op: statekv.OpAdd, ID: 7, Key: "n", Delta: 5}
	first := c1.do(add)
	if first.Status != statekv.StatusOK || first.N != 5 {
		t.Fatalf("add: %+v", first)
	}
	c2, _ := dialState(t, h.StateSocket(), mustToken(t, h, "a"), "1/w")
	if again := c2.do(add); again.N != 5 || again.Rev != first.Rev {
		t.Errorf("resent add: %+v, want the first answer %+v", again, first)
	}
	put := statekv.Request{Op: statekv.OpPut, ID: 8, Key: "p", Value: []byte(`"x"`)}
	p1, p2 := c1.do(put), c2.do(put)
	if p1.Rev != p2.Rev {
		t.Errorf("resent put: revision %d, then %d", p1.Rev, p2.Rev)
	}
	other := taskState(t, h, "b", 2)
	if p := other.do(add); p.N != 10 {
		t.Errorf("another writer's add #7: %d, want 10", p.N)
	}
	if p := c1.do(statekv.Request{Op: statekv.OpGet, Key: "n"}); string(p.Value) != "10" {
		t.Errorf("n = %s, want 10", p.Value)
	}
}

// tokens remembers the tokens handed out, for tests that dial again.
var tokens sync.Map

func mustToken(t *testing.T, h *Hub, task string) string {
	t.Helper()
	v, ok := tokens.Load(h.StateSocket() + "|" + task)
	if !ok {
		t.Fatalf("no token for %s", task)
	}
	return v.(string)
}

// TestStateWatchResumes: a watcher that reconnects with the last revision
// it saw gets every change after it, in order, and one that asks for
// changes no longer kept is told so.
func TestStateWatchResumes(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	w := taskState(t, h, "w", 1)
	if p := w.do(statekv.Request{Op: statekv.OpWatch, Key: "x."}); p.Status != statekv.StatusOK || p.Rev != 0 {
		t.Fatalf("watch: %+v", p)
	}
	wr := taskState(t, h, "p", 2)
	for i := 1; i <= 10; i++ {
		wr.do(statekv.Request{Op: statekv.OpPut, ID: uint64(i), Key: "x.k", Value: []byte{byte('0' + i%10)}})
		wr.do(statekv.Request{Op: statekv.OpPut, ID: uint64(100 + i), Key: "y.k", Value: []byte("0")})
	}
	var last uint64
	for range 4 {
		p := w.read()
		if p.Status != statekv.StatusChange || p.Key != "x.k" || p.Rev != last+2-boolRev(last == 0) {
			t.Fatalf("change: %+v after revision %d", p, last)
		}
		last = p.Rev
	}
	w.c.Close() // lost; come back from the last change seen
	w2 := taskState(t, h, "w", 3)
	if p := w2.do(statekv.Request{Op: statekv.OpWatch, Key: "x.", Rev: last}); p.Status != statekv.StatusOK || p.Rev != last {
		t.Fatalf("watch again: %+v", p)
	}
	for n := 5; n <= 10; n++ {
		p := w2.read()
		if p.Status != statekv.StatusChange || p.Rev != last+2 || string(p.Value) != string([]byte{byte('0' + n%10)}) {
			t.Fatalf("change %d: %+v after revision %d", n, p, last)
		}
		last = p.Rev
	}

	h.state.mu.Lock()
	for range 2 * keepChanges {
		h.state.set("z", []byte("1"))
	}
	h.state.mu.Unlock()
	w3 := taskState(t, h, "w", 4)
	if p := w3.do(statekv.Request{Op: statekv.OpWatch, Key: "x.", Rev: last}); p.Status != statekv.StatusGap {
		t.Errorf("watch from a revision no longer kept: %+v, want a gap", p)
	}
}

func boolRev(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// TestStateLockLease: a lock whose holder stops renewing is taken by the
// next asker once the lease runs out; the old holder then cannot renew or
// release it.
func TestStateLockLease(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	a, b := taskState(t, h, "a", 1), taskState(t, h, "b", 2)
	lock := func(c *stateClient, holder string) statekv.Response {
		return c.do(statekv.Request{Op: statekv.OpLock, Key: "m", Holder: holder, Dur: 100 * time.Millisecond})
	}
	if p := lock(a, "A"); p.Status != statekv.StatusOK {
		t.Fatalf("a: %+v", p)
	}
	taken := false
	for range 30 {
		if p := lock(b, "B"); p.Status == statekv.StatusOK {
			taken = true
			break
		} else if p.Status != statekv.StatusWait {
			t.Fatalf("b: %+v", p)
		}
	}
	if !taken {
		t.Fatal("b never got the lock after a's lease ran out")
	}
	for _, op := range []statekv.Op{statekv.OpRenew, statekv.OpUnlock} {
		if p := a.do(statekv.Request{Op: op, ID: uint64(op), Key: "m", Holder: "A", Dur: time.Second}); p.Status != statekv.StatusNotHolder {
			t.Errorf("%c by the old holder: %+v, want not holder", op, p)
		}
	}
	if p := b.do(statekv.Request{Op: statekv.OpUnlock, ID: 1, Key: "m", Holder: "B"}); p.Status != statekv.StatusOK {
		t.Errorf("unlock by the holder: %+v", p)
	}
}

// TestStateBarrier: participants wait until the last arrives; asking
// again is not arriving twice; another n is refused.
func TestStateBarrier(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	c := taskState(t, h, "a", 1)
	arrive := func(who string, n uint64) statekv.Response {
		return c.do(statekv.Request{Op: statekv.OpBarrier, Key: "b", Holder: who, N: n})
	}
	if p := arrive("one", 2); p.Status != statekv.StatusWait {
		t.Fatalf("first: %+v, want wait", p)
	}
	if p := arrive("one", 2); p.Status != statekv.StatusWait {
		t.Fatalf("first again: %+v, want wait", p)
	}
	if p := arrive("two", 3); p.Status != statekv.StatusBarrier || !strings.Contains(p.Msg, "is for 2 participants; this one says 3") {
		t.Fatalf("another n: %+v", p)
	}
	if p := arrive("two", 2); p.Status != statekv.StatusOK {
		t.Fatalf("last: %+v, want released", p)
	}
	if p := arrive("one", 2); p.Status != statekv.StatusOK {
		t.Fatalf("first after the release: %+v", p)
	}
	if p := arrive("three", 2); p.Status != statekv.StatusBarrier {
		t.Fatalf("one too many: %+v", p)
	}
}

// TestStateRecordedInBucket: the bucket in the run directory holds each
// key's latest value (and not deleted keys) once the changes are written
// behind.
func TestStateRecordedInBucket(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	if err := h.SeedState(context.Background(), map[string]json.RawMessage{"seeded": []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	c := taskState(t, h, "a", 1)
	for i, q := range []statekv.Request{
		{Op: statekv.OpPut, Key: "k", Value: []byte(`1`)},
		{Op: statekv.OpPut, Key: "k", Value: []byte(`2`)},
		{Op: statekv.OpPut, Key: "gone", Value: []byte(`3`)},
		{Op: statekv.OpDelete, Key: "gone"},
	} {
		q.ID = uint64(i + 1)
		if p := c.do(q); p.Status != statekv.StatusOK {
			t.Fatalf("%+v: %+v", q, p)
		}
	}
	h.state.flush()
	ctx := context.Background()
	for key, want := range map[string]string{"seeded": `{"a":1}`, "k": `2`} {
		e, err := h.kv.Get(ctx, key)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		var env statekv.Envelope
		if err := json.Unmarshal(e.Value(), &env); err != nil || string(env.V) != want {
			t.Errorf("%s in the bucket: %s (%v), want %s", key, e.Value(), err, want)
		}
	}
	if _, err := h.kv.Get(ctx, "gone"); err == nil {
		t.Error("a deleted key is still in the bucket")
	}
	st, _ := h.State(ctx)
	if len(st) != 2 || string(st["k"]) != "2" {
		t.Errorf("state %v", st)
	}
}

// TestStateRefusesBadRequests: what the SDK checks before it sends, the
// server checks too.
func TestStateRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	c := taskState(t, h, "a", 1)
	for name, q := range map[string]statekv.Request{
		"bad key":      {Op: statekv.OpPut, Key: "a b", Value: []byte("1")},
		"reserved key": {Op: statekv.OpPut, Key: "_lock.m", Value: []byte("1")},
		"not JSON":     {Op: statekv.OpPut, Key: "k", Value: []byte("{")},
		"too large":    {Op: statekv.OpPut, Key: "k", Value: []byte(`"` + strings.Repeat("x", statekv.MaxValueBytes) + `"`)},
		"unknown op":   {Op: 'Z', Key: "k"},
	} {
		if p := c.do(q); p.Status != statekv.StatusInvalid || p.Msg == "" {
			t.Errorf("%s: %+v, want invalid with a reason", name, p)
		}
	}
	if p := c.do(statekv.Request{Op: statekv.OpPut, ID: 1, Key: "t", Value: []byte(`"x"`)}); p.Status != statekv.StatusOK {
		t.Fatal(p)
	}
	if p := c.do(statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "t", Delta: 1}); p.Status != statekv.StatusNotCounter {
		t.Errorf("add to text: %+v", p)
	}
}

// TestStateReplayed: Replay, which rebuilds a run after its host died,
// reads the state's record too.
func TestStateReplayed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h, err := Start(Config{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SeedState(context.Background(), map[string]json.RawMessage{"seeded": []byte(`"s"`)}); err != nil {
		t.Fatal(err)
	}
	c := taskState(t, h, "a", 1)
	c.do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 3})
	c.do(statekv.Request{Op: statekv.OpLock, Key: "m", Holder: "A", Dur: time.Minute})
	h.EndTask("a")
	h.Close()
	rec, err := Replay(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.State) != 2 || string(rec.State["seeded"]) != `"s"` || string(rec.State["n"]) != "3" {
		t.Errorf("replayed state %v, want seeded and n, without the lock", rec.State)
	}
}

// TestStateRefusesWritesTooOldToTell: a write sent again after more than
// keepAnswers later writes of its process is refused, not applied again.
func TestStateRefusesWritesTooOldToTell(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	c := taskState(t, h, "a", 1)
	for id := uint64(1); id <= keepAnswers+1; id++ {
		c.do(statekv.Request{Op: statekv.OpAdd, ID: id, Key: "n", Delta: 1})
	}
	if p := c.do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 1}); p.Status != statekv.StatusInvalid || !strings.Contains(p.Msg, "no longer known") {
		t.Errorf("write 1 again: %+v, want refused", p)
	}
	if p := c.do(statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "n", Delta: 1}); p.Status != statekv.StatusOK || p.N != 2 {
		t.Errorf("write 2 again: %+v, want its first answer, 2", p)
	}
	if p := c.do(statekv.Request{Op: statekv.OpGet, Key: "n"}); string(p.Value) != "257" {
		t.Errorf("n = %s, want 257", p.Value)
	}
}

// TestStateLoopHandsOver: requests sent together are answered in order;
// an answer larger than the socket's buffer arrives whole; a connection
// whose request the server held, and one whose answer did not fit, go on
// being served.
func TestStateLoopHandsOver(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	c := taskState(t, h, "a", 1)
	var both []byte
	both = statekv.AppendRequest(both, &statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 2})
	both = statekv.AppendRequest(both, &statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "n", Delta: 3})
	if _, err := c.c.Write(both); err != nil {
		t.Fatal(err)
	}
	if p1, p2 := c.read(), c.read(); p1.N != 2 || p2.N != 5 {
		t.Errorf("two requests at once: %d, %d; want 2, 5", p1.N, p2.N)
	}

	big := []byte(`"` + strings.Repeat("x", statekv.MaxValueBytes-2) + `"`)
	if p := c.do(statekv.Request{Op: statekv.OpPut, ID: 3, Key: "big", Value: big}); p.Status != statekv.StatusOK {
		t.Fatalf("put big: %+v", p)
	}
	for range 3 {
		if p := c.do(statekv.Request{Op: statekv.OpGet, Key: "big"}); p.Status != statekv.StatusOK || string(p.Value) != string(big) {
			t.Fatalf("get big: %c, %d bytes", p.Status, len(p.Value))
		}
	}
	if p := c.do(statekv.Request{Op: statekv.OpGet, Key: "n"}); string(p.Value) != "5" {
		t.Errorf("after the large answers: n = %s", p.Value)
	}

	l := taskState(t, h, "b", 2)
	if p := l.do(statekv.Request{Op: statekv.OpLock, Key: "m", Holder: "B", Dur: time.Minute}); p.Status != statekv.StatusOK {
		t.Fatalf("lock: %+v", p)
	}
	if p := l.do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 1}); p.N != 6 {
		t.Errorf("add after a lock, on its connection: %+v", p)
	}
}

// TestStateBoundedBySize: the state's keys and values may take at most
// max_state_bytes. A write that would take it over is refused with a
// reason that names the limit (the SDK's ErrStateFull), also when sent
// again; nothing of it applies. A write that does not grow the state, a
// delete, and reads still work, for every task; a delete makes room.
func TestStateBoundedBySize(t *testing.T) {
	t.Parallel()
	h, err := Start(Config{StoreDir: t.TempDir(), Limits: Limits{StateBytes: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	a := taskState(t, h, "a", 1)
	big := []byte(`"` + strings.Repeat("x", 16<<10-2) + `"`) // 16 KiB as JSON
	id := uint64(0)
	put := func(c *stateClient, key string, v []byte) statekv.Response {
		id++
		return c.do(statekv.Request{Op: statekv.OpPut, ID: id, Key: key, Value: v})
	}
	for i := range 3 {
		if p := put(a, fmt.Sprintf("k.%d", i), big); p.Status != statekv.StatusOK {
			t.Fatalf("put k.%d: %c %s", i, p.Status, p.Msg)
		}
	}
	full := func(what string, p statekv.Response) {
		t.Helper()
		if !statekv.IsFull(p) || !strings.Contains(p.Msg, "over its limit of 65536") || !strings.Contains(p.Msg, "max_state_bytes") {
			t.Errorf("%s: %c %q, want refused: the shared state is full, over its limit of 65536 (max_state_bytes)", what, p.Status, p.Msg)
		}
	}
	over := statekv.Request{Op: statekv.OpPut, ID: 1000, Key: "k.3", Value: big}
	full("the put over the limit", a.do(over))
	again, _ := dialState(t, h.StateSocket(), mustToken(t, h, "a"), "1/w")
	full("the same put sent again", again.do(over))
	full("create", a.do(statekv.Request{Op: statekv.OpCreate, ID: 1001, Key: "k.4", Value: big}))
	full("add to a new counter", a.do(statekv.Request{Op: statekv.OpAdd, ID: 1002, Key: strings.Repeat("n", 16<<10), Delta: 1}))
	full("a new lock", a.do(statekv.Request{Op: statekv.OpLock, Key: strings.Repeat("l", 16<<10), Holder: "me", Dur: time.Second}))
	full("a barrier", a.do(statekv.Request{Op: statekv.OpBarrier, Key: strings.Repeat("b", 16<<10), Holder: "me", N: 2}))
	if p := a.do(statekv.Request{Op: statekv.OpGet, Key: "k.3"}); p.Status != statekv.StatusNotFound {
		t.Errorf("k.3 after its refused put: %c, want not found", p.Status)
	}
	h.state.mu.Lock()
	size := h.state.size
	h.state.mu.Unlock()
	if want := int64(3 * (3 + len(big))); size != want {
		t.Errorf("the state's size is %d, want %d", size, want)
	}

	// Another task reads, replaces with no more, deletes; then there is room.
	b := taskState(t, h, "b", 2)
	if p := b.do(statekv.Request{Op: statekv.OpGet, Key: "k.0"}); p.Status != statekv.StatusOK {
		t.Errorf("another task's get: %c %s", p.Status, p.Msg)
	}
	if p := put(b, "k.0", big); p.Status != statekv.StatusOK {
		t.Errorf("a put that does not grow the state: %c %s", p.Status, p.Msg)
	}
	id++
	if p := b.do(statekv.Request{Op: statekv.OpDelete, ID: id, Key: "k.1"}); p.Status != statekv.StatusOK {
		t.Errorf("delete: %c %s", p.Status, p.Msg)
	}
	if p := put(b, "k.3", big); p.Status != statekv.StatusOK {
		t.Errorf("a put after a delete made room: %c %s", p.Status, p.Msg)
	}

	// The state block's values are held to the limit too.
	h2, err := Start(Config{StoreDir: t.TempDir(), Limits: Limits{StateBytes: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h2.Close)
	err = h2.SeedState(context.Background(), map[string]json.RawMessage{"a": json.RawMessage(strings.Repeat("1", 2000))})
	if err == nil || !strings.Contains(err.Error(), "max_state_bytes") {
		t.Errorf("seed over the limit: %v, want an error naming max_state_bytes", err)
	}
}

// TestStateChangeLogBounded: the changes kept for watchers are bounded in
// bytes as well as in number: once they hold twice keepChangeBytes, the
// oldest are let go, and a watcher that comes back from before them is
// told they are gone.
func TestStateChangeLogBounded(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	w := taskState(t, h, "w", 1)
	if p := w.do(statekv.Request{Op: statekv.OpPut, ID: 1, Key: "x.k", Value: []byte("1")}); p.Status != statekv.StatusOK {
		t.Fatalf("put: %+v", p)
	}
	seen := uint64(1)
	value := []byte(`"` + strings.Repeat("v", statekv.MaxValueBytes-2) + `"`)
	wr := taskState(t, h, "p", 2)
	for i := range 2*keepChangeBytes/statekv.MaxValueBytes + 4 {
		// One key: the state stays small; only the log grows.
		if p := wr.do(statekv.Request{Op: statekv.OpPut, ID: uint64(i + 1), Key: "y", Value: value}); p.Status != statekv.StatusOK {
			t.Fatalf("put %d: %c %s", i, p.Status, p.Msg)
		}
	}
	h.state.mu.Lock()
	n, bytes := len(h.state.changes), h.state.changeBytes
	h.state.mu.Unlock()
	if bytes > 2*keepChangeBytes || n > 2*keepChangeBytes/statekv.MaxValueBytes+1 {
		t.Errorf("the change log holds %d changes, %d bytes; want at most %d bytes", n, bytes, 2*keepChangeBytes)
	}
	w2 := taskState(t, h, "w", 3)
	if p := w2.do(statekv.Request{Op: statekv.OpWatch, Key: "x.", Rev: seen}); p.Status != statekv.StatusGap {
		t.Errorf("watch from a revision no longer kept: %+v, want a gap", p)
	}
}

// TestStateWritersBounded: the server keeps the answers of at most
// keepWriters writers, forgetting the one that wrote least recently,
// however many names a task's connections give; and a hello with a
// writer's name over maxHolder bytes is refused.
func TestStateWritersBounded(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	taskState(t, h, "a", 1)
	s := h.state
	for i := range keepWriters + 100 {
		q := statekv.Request{Op: statekv.OpPut, ID: 1, Key: "k", Value: []byte("1")}
		if p := s.do("a", fmt.Sprintf("a/%d", i), &q); p.Status != statekv.StatusOK {
			t.Fatalf("write of writer %d: %c %s", i, p.Status, p.Msg)
		}
	}
	s.mu.Lock()
	n, mine, first, last := len(s.writers), len(s.byTask["a"]), s.writers["a/0"], s.writers[fmt.Sprintf("a/%d", keepWriters+99)]
	s.mu.Unlock()
	if n > keepWriters || mine > keepWriters {
		t.Errorf("%d writers' answers kept (%d listed for the task), want at most %d", n, mine, keepWriters)
	}
	if first != nil || last == nil {
		t.Errorf("the least recent writer kept: %v; the latest kept: %v", first != nil, last != nil)
	}
	if _, p := dialState(t, h.StateSocket(), mustToken(t, h, "a"), strings.Repeat("w", maxHolder+1)); p.Status != statekv.StatusDenied {
		t.Errorf("hello with a writer's name of %d bytes: %c, want denied", maxHolder+1, p.Status)
	}
}

// TestStateKeysTooManyToList: a listing of keys that would not fit in an
// answer is refused with a reason, rather than sent in a frame the client
// cannot take (it would ask again until its context ended); a longer
// prefix lists them.
func TestStateKeysTooManyToList(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	c := taskState(t, h, "a", 1)
	for i := range 3 {
		key := fmt.Sprintf("k%d.%s", i, strings.Repeat("x", 200<<10))
		if p := c.do(statekv.Request{Op: statekv.OpPut, ID: uint64(i + 1), Key: key, Value: []byte("1")}); p.Status != statekv.StatusOK {
			t.Fatalf("put: %c %s", p.Status, p.Msg)
		}
	}
	if p := c.do(statekv.Request{Op: statekv.OpKeys, Key: "k"}); p.Status != statekv.StatusInvalid || !strings.Contains(p.Msg, "list them by longer prefixes") {
		t.Errorf("keys of 600 KiB: %c %q, want refused", p.Status, p.Msg)
	}
	if p := c.do(statekv.Request{Op: statekv.OpKeys, Key: "k1."}); p.Status != statekv.StatusOK || len(p.Value) != 3+200<<10 {
		t.Errorf("keys under a longer prefix: %c, %d bytes", p.Status, len(p.Value))
	}
}
