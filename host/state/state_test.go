package state

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/internal/statekv/statekvtest"
)

// fixture is a server and the tokens it admits, handed out as the hub
// hands them to a task's attempts.
type fixture struct {
	*Server
	tokMu  sync.Mutex
	tokens map[string]string // token → task
	latest map[string]string // task → its latest token
}

// start starts a server with cfg for the test; under TestPortable, the
// portable one.
func start(t *testing.T, cfg Config) *fixture {
	t.Helper()
	f := &fixture{tokens: map[string]string{}, latest: map[string]string{}}
	cfg.Check = func(token string) (string, bool) {
		f.tokMu.Lock()
		defer f.tokMu.Unlock()
		task, ok := f.tokens[token]
		return task, ok
	}
	cfg.portable = cfg.portable || strings.HasPrefix(t.Name(), "TestPortable/")
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	f.Server = s
	return f
}

// addTask makes a token for an attempt of task.
func (f *fixture) addTask(task string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	f.tokMu.Lock()
	defer f.tokMu.Unlock()
	f.tokens[token], f.latest[task] = task, token
	return token
}

func taskState(t *testing.T, h *fixture, task string, _ int) *stateClient {
	t.Helper()
	token := h.addTask(task)
	sc, p := dialState(t, h.Socket(), token, "1/w")
	if p.Status != statekv.StatusOK {
		t.Fatalf("hello: %c %s", p.Status, p.Msg)
	}
	return sc
}

type stateClient = statekvtest.Client

var dialState = statekvtest.Dial

// TestStateRefusesStrangers: no token, a bad token, another run's token
// and a request before hello are all refused.
func TestStateRefusesStrangers(t *testing.T) {
	t.Parallel()
	a, b := start(t, Config{}), start(t, Config{})
	other := b.addTask("x")
	a.addTask("x")
	for name, tok := range map[string]string{"no token": "", "bad token": "nope", "another run's token": other} {
		if _, p := dialState(t, a.Socket(), tok, "1/w"); p.Status != statekv.StatusDenied {
			t.Errorf("%s: status %c, want denied", name, p.Status)
		}
	}
	c, err := net.Dial("unix", a.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := &stateClient{T: t, C: c, R: bufio.NewReader(c)}
	if p := sc.Do(statekv.Request{Op: statekv.OpGet, Key: "k"}); p.Status != statekv.StatusDenied {
		t.Errorf("get before hello: status %c, want denied", p.Status)
	}
}

// TestStateAnswersResentWritesOnce: a write sent again with the same
// number, on another connection (as after a lost answer), gets the first
// answer and does not apply again; another writer's same number is its
// own.
func TestStateAnswersResentWritesOnce(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	c1 := taskState(t, h, "a", 1)
	add := statekv.Request{Op: statekv.OpAdd, ID: 7, Key: "n", Delta: 5}
	first := c1.Do(add)
	if first.Status != statekv.StatusOK || first.N != 5 {
		t.Fatalf("add: %+v", first)
	}
	c2, _ := dialState(t, h.Socket(), mustToken(t, h, "a"), "1/w")
	if again := c2.Do(add); again.N != 5 || again.Rev != first.Rev {
		t.Errorf("resent add: %+v, want the first answer %+v", again, first)
	}
	put := statekv.Request{Op: statekv.OpPut, ID: 8, Key: "p", Value: []byte(`"x"`)}
	p1, p2 := c1.Do(put), c2.Do(put)
	if p1.Rev != p2.Rev {
		t.Errorf("resent put: revision %d, then %d", p1.Rev, p2.Rev)
	}
	other := taskState(t, h, "b", 2)
	if p := other.Do(add); p.N != 10 {
		t.Errorf("another writer's add #7: %d, want 10", p.N)
	}
	if p := c1.Do(statekv.Request{Op: statekv.OpGet, Key: "n"}); string(p.Value) != "10" {
		t.Errorf("n = %s, want 10", p.Value)
	}
}

func mustToken(t *testing.T, h *fixture, task string) string {
	t.Helper()
	h.tokMu.Lock()
	defer h.tokMu.Unlock()
	token, ok := h.latest[task]
	if !ok {
		t.Fatalf("no token for %s", task)
	}
	return token
}

// TestStateWatchResumes: a watcher that reconnects with the last revision
// it saw gets every change after it, in order, and one that asks for
// changes no longer kept is told so.
func TestStateWatchResumes(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	w := taskState(t, h, "w", 1)
	if p := w.Do(statekv.Request{Op: statekv.OpWatch, Key: "x."}); p.Status != statekv.StatusOK || p.Rev != 0 {
		t.Fatalf("watch: %+v", p)
	}
	wr := taskState(t, h, "p", 2)
	for i := 1; i <= 10; i++ {
		wr.Do(statekv.Request{Op: statekv.OpPut, ID: uint64(i), Key: "x.k", Value: []byte{byte('0' + i%10)}})
		wr.Do(statekv.Request{Op: statekv.OpPut, ID: uint64(100 + i), Key: "y.k", Value: []byte("0")})
	}
	var last uint64
	for range 4 {
		p := w.Read()
		if p.Status != statekv.StatusChange || p.Key != "x.k" || p.Rev != last+2-boolRev(last == 0) {
			t.Fatalf("change: %+v after revision %d", p, last)
		}
		last = p.Rev
	}
	w.C.Close() // lost; come back from the last change seen
	w2 := taskState(t, h, "w", 3)
	if p := w2.Do(statekv.Request{Op: statekv.OpWatch, Key: "x.", Rev: last}); p.Status != statekv.StatusOK || p.Rev != last {
		t.Fatalf("watch again: %+v", p)
	}
	for n := 5; n <= 10; n++ {
		p := w2.Read()
		if p.Status != statekv.StatusChange || p.Rev != last+2 || string(p.Value) != string([]byte{byte('0' + n%10)}) {
			t.Fatalf("change %d: %+v after revision %d", n, p, last)
		}
		last = p.Rev
	}

	h.mu.Lock()
	for range 2 * keepChanges {
		h.set("z", []byte("1"))
	}
	h.mu.Unlock()
	w3 := taskState(t, h, "w", 4)
	if p := w3.Do(statekv.Request{Op: statekv.OpWatch, Key: "x.", Rev: last}); p.Status != statekv.StatusGap {
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
	h := start(t, Config{})
	a, b := taskState(t, h, "a", 1), taskState(t, h, "b", 2)
	lock := func(c *stateClient, holder string) statekv.Response {
		return c.Do(statekv.Request{Op: statekv.OpLock, Key: "m", Holder: holder, Dur: 100 * time.Millisecond})
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
		if p := a.Do(statekv.Request{Op: op, ID: uint64(op), Key: "m", Holder: "A", Dur: time.Second}); p.Status != statekv.StatusNotHolder {
			t.Errorf("%c by the old holder: %+v, want not holder", op, p)
		}
	}
	if p := b.Do(statekv.Request{Op: statekv.OpUnlock, ID: 1, Key: "m", Holder: "B"}); p.Status != statekv.StatusOK {
		t.Errorf("unlock by the holder: %+v", p)
	}
}

// TestStateBarrier: participants wait until the last arrives; asking
// again is not arriving twice; another n is refused.
func TestStateBarrier(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	c := taskState(t, h, "a", 1)
	arrive := func(who string, n uint64) statekv.Response {
		return c.Do(statekv.Request{Op: statekv.OpBarrier, Key: "b", Holder: who, N: n})
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

// TestStateRefusesBadRequests: what the SDK checks before it sends, the
// server checks too.
func TestStateRefusesBadRequests(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	c := taskState(t, h, "a", 1)
	for name, q := range map[string]statekv.Request{
		"bad key":      {Op: statekv.OpPut, Key: "a b", Value: []byte("1")},
		"reserved key": {Op: statekv.OpPut, Key: "_lock.m", Value: []byte("1")},
		"not JSON":     {Op: statekv.OpPut, Key: "k", Value: []byte("{")},
		"too large":    {Op: statekv.OpPut, Key: "k", Value: []byte(`"` + strings.Repeat("x", statekv.MaxValueBytes) + `"`)},
		"unknown op":   {Op: 'Z', Key: "k"},
	} {
		if p := c.Do(q); p.Status != statekv.StatusInvalid || p.Msg == "" {
			t.Errorf("%s: %+v, want invalid with a reason", name, p)
		}
	}
	if p := c.Do(statekv.Request{Op: statekv.OpPut, ID: 1, Key: "t", Value: []byte(`"x"`)}); p.Status != statekv.StatusOK {
		t.Fatal(p)
	}
	if p := c.Do(statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "t", Delta: 1}); p.Status != statekv.StatusNotCounter {
		t.Errorf("add to text: %+v", p)
	}
}

// TestStateRefusesWritesTooOldToTell: a write sent again after more than
// keepAnswers later writes of its process is refused, not applied again.
func TestStateRefusesWritesTooOldToTell(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	c := taskState(t, h, "a", 1)
	for id := uint64(1); id <= keepAnswers+1; id++ {
		c.Do(statekv.Request{Op: statekv.OpAdd, ID: id, Key: "n", Delta: 1})
	}
	if p := c.Do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 1}); p.Status != statekv.StatusInvalid || !strings.Contains(p.Msg, "no longer known") {
		t.Errorf("write 1 again: %+v, want refused", p)
	}
	if p := c.Do(statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "n", Delta: 1}); p.Status != statekv.StatusOK || p.N != 2 {
		t.Errorf("write 2 again: %+v, want its first answer, 2", p)
	}
	if p := c.Do(statekv.Request{Op: statekv.OpGet, Key: "n"}); string(p.Value) != "257" {
		t.Errorf("n = %s, want 257", p.Value)
	}
}

// TestStateLoopHandsOver: requests sent together are answered in order;
// an answer larger than the socket's buffer arrives whole; a connection
// whose request the server held, and one whose answer did not fit, go on
// being served.
func TestStateLoopHandsOver(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	c := taskState(t, h, "a", 1)
	var both []byte
	both = statekv.AppendRequest(both, &statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 2})
	both = statekv.AppendRequest(both, &statekv.Request{Op: statekv.OpAdd, ID: 2, Key: "n", Delta: 3})
	if _, err := c.C.Write(both); err != nil {
		t.Fatal(err)
	}
	if p1, p2 := c.Read(), c.Read(); p1.N != 2 || p2.N != 5 {
		t.Errorf("two requests at once: %d, %d; want 2, 5", p1.N, p2.N)
	}

	big := []byte(`"` + strings.Repeat("x", statekv.MaxValueBytes-2) + `"`)
	if p := c.Do(statekv.Request{Op: statekv.OpPut, ID: 3, Key: "big", Value: big}); p.Status != statekv.StatusOK {
		t.Fatalf("put big: %+v", p)
	}
	for range 3 {
		if p := c.Do(statekv.Request{Op: statekv.OpGet, Key: "big"}); p.Status != statekv.StatusOK || string(p.Value) != string(big) {
			t.Fatalf("get big: %c, %d bytes", p.Status, len(p.Value))
		}
	}
	if p := c.Do(statekv.Request{Op: statekv.OpGet, Key: "n"}); string(p.Value) != "5" {
		t.Errorf("after the large answers: n = %s", p.Value)
	}

	l := taskState(t, h, "b", 2)
	if p := l.Do(statekv.Request{Op: statekv.OpLock, Key: "m", Holder: "B", Dur: time.Minute}); p.Status != statekv.StatusOK {
		t.Fatalf("lock: %+v", p)
	}
	if p := l.Do(statekv.Request{Op: statekv.OpAdd, ID: 1, Key: "n", Delta: 1}); p.N != 6 {
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
	h := start(t, Config{MaxBytes: 64 << 10})
	a := taskState(t, h, "a", 1)
	big := []byte(`"` + strings.Repeat("x", 16<<10-2) + `"`) // 16 KiB as JSON
	id := uint64(0)
	put := func(c *stateClient, key string, v []byte) statekv.Response {
		id++
		return c.Do(statekv.Request{Op: statekv.OpPut, ID: id, Key: key, Value: v})
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
	full("the put over the limit", a.Do(over))
	again, _ := dialState(t, h.Socket(), mustToken(t, h, "a"), "1/w")
	full("the same put sent again", again.Do(over))
	full("create", a.Do(statekv.Request{Op: statekv.OpCreate, ID: 1001, Key: "k.4", Value: big}))
	full("add to a new counter", a.Do(statekv.Request{Op: statekv.OpAdd, ID: 1002, Key: strings.Repeat("n", 16<<10), Delta: 1}))
	full("a new lock", a.Do(statekv.Request{Op: statekv.OpLock, Key: strings.Repeat("l", 16<<10), Holder: "me", Dur: time.Second}))
	full("a barrier", a.Do(statekv.Request{Op: statekv.OpBarrier, Key: strings.Repeat("b", 16<<10), Holder: "me", N: 2}))
	if p := a.Do(statekv.Request{Op: statekv.OpGet, Key: "k.3"}); p.Status != statekv.StatusNotFound {
		t.Errorf("k.3 after its refused put: %c, want not found", p.Status)
	}
	h.mu.Lock()
	size := h.size
	h.mu.Unlock()
	if want := int64(3 * (3 + len(big))); size != want {
		t.Errorf("the state's size is %d, want %d", size, want)
	}

	// Another task reads, replaces with no more, deletes; then there is room.
	b := taskState(t, h, "b", 2)
	if p := b.Do(statekv.Request{Op: statekv.OpGet, Key: "k.0"}); p.Status != statekv.StatusOK {
		t.Errorf("another task's get: %c %s", p.Status, p.Msg)
	}
	if p := put(b, "k.0", big); p.Status != statekv.StatusOK {
		t.Errorf("a put that does not grow the state: %c %s", p.Status, p.Msg)
	}
	id++
	if p := b.Do(statekv.Request{Op: statekv.OpDelete, ID: id, Key: "k.1"}); p.Status != statekv.StatusOK {
		t.Errorf("delete: %c %s", p.Status, p.Msg)
	}
	if p := put(b, "k.3", big); p.Status != statekv.StatusOK {
		t.Errorf("a put after a delete made room: %c %s", p.Status, p.Msg)
	}

}

// TestStateChangeLogBounded: the changes kept for watchers are bounded in
// bytes as well as in number: once they hold twice keepChangeBytes, the
// oldest are let go, and a watcher that comes back from before them is
// told they are gone.
func TestStateChangeLogBounded(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	w := taskState(t, h, "w", 1)
	if p := w.Do(statekv.Request{Op: statekv.OpPut, ID: 1, Key: "x.k", Value: []byte("1")}); p.Status != statekv.StatusOK {
		t.Fatalf("put: %+v", p)
	}
	seen := uint64(1)
	value := []byte(`"` + strings.Repeat("v", statekv.MaxValueBytes-2) + `"`)
	wr := taskState(t, h, "p", 2)
	for i := range 2*keepChangeBytes/statekv.MaxValueBytes + 4 {
		// One key: the state stays small; only the log grows.
		if p := wr.Do(statekv.Request{Op: statekv.OpPut, ID: uint64(i + 1), Key: "y", Value: value}); p.Status != statekv.StatusOK {
			t.Fatalf("put %d: %c %s", i, p.Status, p.Msg)
		}
	}
	h.mu.Lock()
	n, bytes := len(h.changes), h.changeBytes
	h.mu.Unlock()
	if bytes > 2*keepChangeBytes || n > 2*keepChangeBytes/statekv.MaxValueBytes+1 {
		t.Errorf("the change log holds %d changes, %d bytes; want at most %d bytes", n, bytes, 2*keepChangeBytes)
	}
	w2 := taskState(t, h, "w", 3)
	if p := w2.Do(statekv.Request{Op: statekv.OpWatch, Key: "x.", Rev: seen}); p.Status != statekv.StatusGap {
		t.Errorf("watch from a revision no longer kept: %+v, want a gap", p)
	}
}

// TestStateWritersBounded: the server keeps the answers of at most
// keepWriters writers, forgetting the one that wrote least recently,
// however many names a task's connections give; and a hello with a
// writer's name over maxHolder bytes is refused.
func TestStateWritersBounded(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	taskState(t, h, "a", 1)
	s := h
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
	if _, p := dialState(t, h.Socket(), mustToken(t, h, "a"), strings.Repeat("w", maxHolder+1)); p.Status != statekv.StatusDenied {
		t.Errorf("hello with a writer's name of %d bytes: %c, want denied", maxHolder+1, p.Status)
	}
}

// TestStateKeysTooManyToList: a listing of keys that would not fit in an
// answer is refused with a reason, rather than sent in a frame the client
// cannot take (it would ask again until its context ended); a longer
// prefix lists them.
func TestStateKeysTooManyToList(t *testing.T) {
	t.Parallel()
	h := start(t, Config{})
	c := taskState(t, h, "a", 1)
	for i := range 3 {
		key := fmt.Sprintf("k%d.%s", i, strings.Repeat("x", 200<<10))
		if p := c.Do(statekv.Request{Op: statekv.OpPut, ID: uint64(i + 1), Key: key, Value: []byte("1")}); p.Status != statekv.StatusOK {
			t.Fatalf("put: %c %s", p.Status, p.Msg)
		}
	}
	if p := c.Do(statekv.Request{Op: statekv.OpKeys, Key: "k"}); p.Status != statekv.StatusInvalid || !strings.Contains(p.Msg, "list them by longer prefixes") {
		t.Errorf("keys of 600 KiB: %c %q, want refused", p.Status, p.Msg)
	}
	if p := c.Do(statekv.Request{Op: statekv.OpKeys, Key: "k1."}); p.Status != statekv.StatusOK || len(p.Value) != 3+200<<10 {
		t.Errorf("keys under a longer prefix: %c, %d bytes", p.Status, len(p.Value))
	}
}

// TestPortable runs the tests above against the portable server (a
// goroutine per connection), which serves where there is no epoll loop:
// start gives it to every test under this one.
func TestPortable(t *testing.T) {
	t.Parallel()
	for name, test := range map[string]func(*testing.T){
		"RefusesStrangers":          TestStateRefusesStrangers,
		"AnswersResentWritesOnce":   TestStateAnswersResentWritesOnce,
		"WatchResumes":              TestStateWatchResumes,
		"LockLease":                 TestStateLockLease,
		"Barrier":                   TestStateBarrier,
		"RefusesBadRequests":        TestStateRefusesBadRequests,
		"RefusesWritesTooOldToTell": TestStateRefusesWritesTooOldToTell,
		"LoopHandsOver":             TestStateLoopHandsOver,
		"BoundedBySize":             TestStateBoundedBySize,
		"ChangeLogBounded":          TestStateChangeLogBounded,
		"WritersBounded":            TestStateWritersBounded,
		"KeysTooManyToList":         TestStateKeysTooManyToList,
	} {
		t.Run(name, test)
	}
}
