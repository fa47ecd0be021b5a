package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/statekv"
)

// The state server keeps the run's shared state in the host's memory and
// serves it to task processes over a Unix socket (the state protocol of
// internal/statekv): one request and one answer at a time per connection,
// as a Redis client and server talk. Every change gets the next revision
// of the run; a writer's request carries a number, and the answer to each
// of the writer's recent writes is kept, so that a request sent again
// after a lost connection is answered, not applied twice. The latest value
// of each key is written behind to the run's JetStream key/value bucket
// (at most journalDelay after the change), so that the record in the run
// directory holds the state when the host dies.

const (
	// keepChanges and keepChangeBytes bound the latest changes the server
	// keeps for watchers that reconnect: their number, and the bytes of
	// their keys and values. A watcher further behind gets StatusGap.
	// The log is cut back to them when it reaches twice either.
	keepChanges     = 1 << 16
	keepChangeBytes = 16 << 20
	// keepAnswers is how many of each writer's latest writes the server
	// keeps the answers of; keepWriters, of how many writers (the one
	// that wrote least recently is forgotten first). A writer is a
	// process (the SDK names one per process), so a run has far fewer
	// at once.
	keepAnswers = 256
	keepWriters = 4096
	// maxHolder bounds the name a connection's hello gives its writer.
	maxHolder = 256
	// journalDelay is how long a change may wait before it is written to
	// the bucket: changes to one key within it are written once.
	journalDelay = 10 * time.Millisecond
)

type stateEntry struct {
	value []byte
	rev   uint64
}

type stateChange struct {
	key   string
	value []byte // nil: deleted
}

// writerAnswers holds a writer's answers to its last keepAnswers writes,
// write n at n % keepAnswers, and the highest write number seen; its
// task, and when it last wrote (stateServer.writes).
type writerAnswers struct {
	max  uint64
	task string
	used uint64
	ring [keepAnswers]answer
}

// answer is what a write was answered: its status, revision and number
// (the value and message of a refusal are not kept; full says it was
// refused because the state was full, which its message says again).
type answer struct {
	id     uint64
	status statekv.Status
	full   bool
	rev    uint64
	n      int64
}

type stateServer struct {
	log     hclog.Logger
	loop    *stateLoop
	path    string
	ownDir  string // a directory the server made for the socket, removed at close
	kv      jetstream.KeyValue
	closing chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	tokens map[string]string // token → task id
	conns  map[net.Conn]string
	rev    uint64
	keys   map[string]*stateEntry
	// size is the bytes of every key and value in keys; maxSize bounds
	// it (max_state_bytes).
	size, maxSize int64
	log0          uint64 // revision of changes[0]
	changes       []stateChange
	changeBytes   int64                     // the bytes of the keys and values in changes
	changed       chan struct{}             // closed at the next change; nil while nobody waits
	writers       map[string]*writerAnswers // by task id and the writer's name
	byTask        map[string][]string       // each task's writers
	writes        uint64                    // writes so far, to order the writers by their last
	dirty         map[string]bool
	kick          chan struct{}
	drops         int

	// dropEvery, a test fault: after every dropEvery requests (of all
	// tasks), the server drops every task connection, the one that made
	// the request before its answer.
	dropEvery int
	requests  int

	// storeGen tells how many times the run's store failed and whether
	// it cannot write now, and trouble reports a write to it that failed,
	// which began at that count, and says whether the store is failing
	// (see Hub.troubleAt). Both may be nil.
	storeGen func() (int, bool)
	trouble  func(int, error) bool
}

// startState listens on the socket at path (in a private directory of its
// own when path is empty) and writes the state behind to kv.
// Its keys and values may take at most maxSize bytes.
func startState(path string, kv jetstream.KeyValue, log hclog.Logger, dropEvery int, maxSize int64) (*stateServer, error) {
	s := &stateServer{
		log: log, kv: kv, closing: make(chan struct{}), dropEvery: dropEvery, maxSize: maxSize,
		tokens: map[string]string{}, conns: map[net.Conn]string{}, keys: map[string]*stateEntry{},
		writers: map[string]*writerAnswers{}, byTask: map[string][]string{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1), log0: 1,
	}
	if path == "" {
		dir, err := os.MkdirTemp("", "taskhost-state-")
		if err != nil {
			return nil, err
		}
		s.ownDir, path = dir, filepath.Join(dir, "state.sock")
	}
	s.path = path
	l, err := newStateLoop(s)
	if err != nil {
		if s.ownDir != "" {
			os.RemoveAll(s.ownDir)
		}
		return nil, fmt.Errorf("state socket: %w", err)
	}
	s.loop = l
	s.wg.Add(2)
	go l.run()
	go s.journal()
	return s, nil
}

func (s *stateServer) addToken(token, taskID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = taskID
}

// revoke forgets token, and closes the connections that opened with it.
// A connection knows its task, not its token: the connections of the
// token's task are closed, which are the token's, since a task's attempts
// (each with a token of its own) never overlap.
func (s *stateServer) revoke(token string) int {
	s.mu.Lock()
	task, ok := s.tokens[token]
	delete(s.tokens, token)
	s.mu.Unlock()
	if !ok {
		return 0
	}
	n := 0
	s.loop.do(func(conns map[int]*loopConn) { n = s.loop.closeTask(conns, task) })
	// After the loop's: a connection it handed over meanwhile is here.
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, t := range s.conns {
		if t == task {
			c.Close()
			delete(s.conns, c)
			n++
		}
	}
	return n
}

// dropAll closes every task connection (a test fault).
func (s *stateServer) dropAll() int {
	n := s.loop.dropAll()
	return n + s.dropHanded()
}

// dropHanded closes the connections served by goroutines of their own.
func (s *stateServer) dropHanded() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
		n++
	}
	s.drops += n
	return n
}

// endTask forgets the answers kept for the task's processes: it ended,
// and they with it.
func (s *stateServer) endTask(task string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.byTask[task] {
		delete(s.writers, w)
	}
	delete(s.byTask, task)
}

// waitChange returns a channel closed at the next change, under s.mu.
func (s *stateServer) waitChange() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// dropNow counts a request, and says whether to drop the connections.
func (s *stateServer) dropNow() bool {
	if s.dropEvery <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	return s.requests%s.dropEvery == 0
}

func (s *stateServer) close() {
	close(s.closing)
	s.loop.stop()
	s.dropHanded()
	s.wg.Wait()
	s.flush()
	if s.ownDir != "" {
		os.RemoveAll(s.ownDir)
	}
}

// hello checks a connection's first request, and returns the task and the
// writer it speaks for.
func (s *stateServer) hello(msg []byte) (task, writer string, ok bool) {
	q, err := statekv.DecodeRequest(msg)
	if err != nil || q.Op != statekv.OpHello || q.Holder == "" || len(q.Holder) > maxHolder {
		return "", "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	task, ok = s.tokens[q.Key]
	return task, task + "/" + q.Holder, ok
}

// handed registers a connection that a goroutine of its own serves from
// now on; false if the server is closing.
func (s *stateServer) handed(c net.Conn, task string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closing:
		return false
	default:
	}
	s.conns[c] = task
	return true
}

// serveHanded answers a connection's requests on a goroutine of its own,
// after the loop handed it over (for a request the server holds: a lock,
// a barrier, a watch; or an answer too large to write at once): it writes
// out first, then serves what in holds and what comes after.
func (s *stateServer) serveHanded(c net.Conn, task, writer string, out, in []byte) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return
		}
	}
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(in), c), 16<<10)
	w := bufio.NewWriterSize(c, 16<<10)
	var buf []byte
	send := func(p *statekv.Response) error {
		out = statekv.AppendResponse(out[:0], p)
		if _, err := w.Write(out); err != nil {
			return err
		}
		return w.Flush()
	}
	for {
		msg, err := statekv.ReadFrame(r, buf)
		if err != nil {
			return
		}
		buf = msg
		q, err := statekv.DecodeRequest(msg)
		if err != nil {
			_ = send(&statekv.Response{Status: statekv.StatusInvalid, Msg: err.Error()})
			return
		}
		if q.Op == statekv.OpWatch {
			s.watch(c, r, w, q)
			return
		}
		p := s.do(task, writer, &q)
		if s.dropNow() {
			s.faultDrop(task)
			return
		}
		if err := send(&p); err != nil {
			return
		}
	}
}

// faultDrop drops every connection, for the test fault, from a goroutine
// other than the loop's.
func (s *stateServer) faultDrop(task string) { s.faultDropped(task, s.dropAll()) }

// faultDropped logs a drop of n connections for the test fault.
func (s *stateServer) faultDropped(task string, n int) {
	s.log.Warn("test fault: dropping every state connection, one before its answer", "task", task, "connections", n)
}

// do carries out one request of writer's, a process of task's.
func (s *stateServer) do(task, writer string, q *statekv.Request) statekv.Response {
	switch q.Op {
	case statekv.OpGet, statekv.OpKeys:
		if q.Op == statekv.OpGet && !statekv.ValidKey(q.Key) {
			return invalid("invalid key %q", q.Key)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if q.Op == statekv.OpKeys {
			var keys []string
			for k := range s.keys {
				if statekv.Visible(k, q.Key) {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			list := strings.Join(keys, "\n")
			if len(list) > statekv.MaxValueBytes {
				// More than a frame holds.
				return invalid("the %d keys under %q take %d bytes, more than an answer holds (%d): list them by longer prefixes",
					len(keys), q.Key, len(list), statekv.MaxValueBytes)
			}
			return statekv.Response{Status: statekv.StatusOK, Rev: s.rev, Value: []byte(list)}
		}
		e := s.keys[q.Key]
		if e == nil {
			return statekv.Response{Status: statekv.StatusNotFound}
		}
		return statekv.Response{Status: statekv.StatusOK, Rev: e.rev, Value: e.value}
	case statekv.OpLock, statekv.OpBarrier:
		return s.wait(q)
	case statekv.OpPut, statekv.OpCreate, statekv.OpSwap, statekv.OpDelete, statekv.OpAdd, statekv.OpRenew, statekv.OpUnlock:
	default:
		return invalid("unknown operation %q", q.Op)
	}
	key := q.Key
	switch q.Op {
	case statekv.OpRenew, statekv.OpUnlock:
		key = statekv.LockKey(q.Key)
	}
	if msg := statekv.CheckKey(q.Key); msg != "" {
		return invalid("invalid key %s", msg)
	}
	if len(q.Value) > statekv.MaxValueBytes {
		return invalid("%q is %d bytes as JSON, over the limit of %d", q.Key, len(q.Value), statekv.MaxValueBytes)
	}
	if q.Value != nil && !json.Valid(q.Value) {
		return invalid("the value of %q is not JSON", q.Key)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	wa := s.writers[writer]
	if wa == nil {
		if len(s.writers) >= keepWriters {
			s.forgetWriter()
		}
		wa = &writerAnswers{task: task}
		s.writers[writer] = wa
		s.byTask[task] = append(s.byTask[task], writer)
	}
	s.writes++
	wa.used = s.writes
	if q.ID == 0 {
		return s.write(key, q)
	}
	slot := &wa.ring[q.ID%keepAnswers]
	switch {
	case slot.id == q.ID:
		// Sent again after a lost answer: applied already (or refused).
		p := statekv.Response{Status: slot.status, Rev: slot.rev, N: slot.n}
		if slot.full {
			p.Msg = statekv.FullPrefix + fmt.Sprintf("over its limit of %d bytes (max_state_bytes)", s.maxSize)
		}
		return p
	case q.ID+keepAnswers <= wa.max:
		return invalid("write %d of this process sent again after %d later ones: whether it applied is no longer known", q.ID, wa.max-q.ID)
	}
	p := s.write(key, q)
	*slot = answer{id: q.ID, status: p.Status, full: statekv.IsFull(p), rev: p.Rev, n: p.N}
	wa.max = max(wa.max, q.ID)
	return p
}

// forgetWriter forgets the answers of the writer that wrote least
// recently, under s.mu: what keeps their number bounded, whatever names
// a task's connections give their writers.
func (s *stateServer) forgetWriter() {
	var oldest string
	var wa *writerAnswers
	for w, a := range s.writers {
		if wa == nil || a.used < wa.used {
			oldest, wa = w, a
		}
	}
	if wa == nil {
		return
	}
	delete(s.writers, oldest)
	s.byTask[wa.task] = slices.DeleteFunc(s.byTask[wa.task], func(w string) bool { return w == oldest })
}

func invalid(format string, args ...any) statekv.Response {
	return statekv.Response{Status: statekv.StatusInvalid, Msg: fmt.Sprintf(format, args...)}
}

// write carries out a writing request, under s.mu.
func (s *stateServer) write(key string, q *statekv.Request) statekv.Response {
	e := s.keys[key]
	switch q.Op {
	case statekv.OpPut:
		return s.set(key, q.Value)
	case statekv.OpCreate:
		if e != nil {
			return statekv.Response{Status: statekv.StatusExists, Rev: e.rev}
		}
		return s.set(key, q.Value)
	case statekv.OpSwap:
		if e == nil || e.rev != q.Rev {
			var cur uint64
			if e != nil {
				cur = e.rev
			}
			return statekv.Response{Status: statekv.StatusConflict, Rev: cur}
		}
		return s.set(key, q.Value)
	case statekv.OpDelete:
		if e != nil {
			s.set(key, nil)
		}
		return statekv.Response{Status: statekv.StatusOK, Rev: s.rev}
	case statekv.OpAdd:
		var n int64
		if e != nil {
			var err error
			if n, err = strconv.ParseInt(string(e.value), 10, 64); err != nil {
				return statekv.Response{Status: statekv.StatusNotCounter, Value: e.value}
			}
		}
		n += q.Delta
		p := s.set(key, strconv.AppendInt(nil, n, 10))
		if p.Status == statekv.StatusOK {
			p.N = n
		}
		return p
	case statekv.OpRenew, statekv.OpUnlock:
		lv, held := lockOf(e)
		if !held || lv.Holder != q.Holder {
			return statekv.Response{Status: statekv.StatusNotHolder}
		}
		if q.Op == statekv.OpUnlock {
			return s.set(key, nil)
		}
		return s.set(key, lockRecord(q.Holder, q.Dur))
	}
	return invalid("unknown operation %q", q.Op)
}

// entryBytes is what a key and its value count for in the state's size,
// and in the change log's.
func entryBytes(key string, value []byte) int64 { return int64(len(key) + len(value)) }

// room says whether key may be given value: a write that takes the state
// over its limit is refused (one that makes it smaller never is). Under
// s.mu.
func (s *stateServer) room(key string, value []byte) (statekv.Response, bool) {
	if value == nil {
		return statekv.Response{}, true
	}
	size := s.size + entryBytes(key, value)
	if e := s.keys[key]; e != nil {
		size -= entryBytes(key, e.value)
	}
	if size <= s.size || s.maxSize <= 0 || size <= s.maxSize {
		return statekv.Response{}, true
	}
	return statekv.Response{Status: statekv.StatusInvalid, Msg: statekv.FullPrefix +
		fmt.Sprintf("%q (%d bytes) would take it to %d bytes, over its limit of %d (max_state_bytes)", key, len(value), size, s.maxSize)}, false
}

// set gives key a new value (nil: deletes it) at the next revision, under
// s.mu; or refuses it, when the state has no room for it.
func (s *stateServer) set(key string, value []byte) statekv.Response {
	if p, ok := s.room(key, value); !ok {
		return p
	}
	s.rev++
	if e := s.keys[key]; e != nil {
		s.size -= entryBytes(key, e.value)
	}
	if value == nil {
		delete(s.keys, key)
	} else {
		value = bytes.Clone(value)
		s.size += entryBytes(key, value)
		if e := s.keys[key]; e != nil {
			e.value, e.rev = value, s.rev
		} else {
			s.keys[key] = &stateEntry{value: value, rev: s.rev}
		}
	}
	s.changes = append(s.changes, stateChange{key: key, value: value})
	s.changeBytes += entryBytes(key, value)
	if len(s.changes) >= 2*keepChanges || s.changeBytes >= 2*keepChangeBytes {
		drop := 0
		for len(s.changes)-drop > keepChanges || s.changeBytes > keepChangeBytes {
			s.changeBytes -= entryBytes(s.changes[drop].key, s.changes[drop].value)
			drop++
		}
		s.changes = slices.Delete(s.changes, 0, drop)
		s.log0 += uint64(drop)
	}
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.dirty[key] = true
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return statekv.Response{Status: statekv.StatusOK, Rev: s.rev}
}

type lockValue struct {
	Holder  string `json:"holder"`
	Expires int64  `json:"expires"` // Unix nanoseconds
}

func lockRecord(holder string, lease time.Duration) []byte {
	b, _ := json.Marshal(lockValue{Holder: holder, Expires: time.Now().Add(lease).UnixNano()})
	return b
}

// lockOf reads a lock's record: held is false for a free lock or a lapsed
// lease.
func lockOf(e *stateEntry) (lv lockValue, held bool) {
	if e == nil || json.Unmarshal(e.value, &lv) != nil {
		return lockValue{}, false
	}
	return lv, lv.Expires > time.Now().UnixNano()
}

type barrierValue struct {
	N       uint64   `json:"n"`
	Arrived []string `json:"arrived"`
	Open    bool     `json:"open"`
}

// wait takes a lock or joins a barrier, waiting up to statekv.MaxWait for
// the lock to be free or the barrier to open; then the client asks again.
// Both are safe to ask again: the holder or participant names the asker.
func (s *stateServer) wait(q *statekv.Request) statekv.Response {
	if msg := statekv.CheckKey(q.Key); msg != "" || q.Holder == "" {
		return invalid("invalid name %s", msg)
	}
	deadline := time.Now().Add(statekv.MaxWait)
	for {
		s.mu.Lock()
		var p statekv.Response
		var until time.Time
		if q.Op == statekv.OpLock {
			p, until = s.lock(q)
		} else {
			p = s.barrier(q)
		}
		ch := s.waitChange()
		s.mu.Unlock()
		if p.Status != statekv.StatusWait {
			return p
		}
		left := time.Until(deadline)
		if left <= 0 {
			return p
		}
		if !until.IsZero() {
			// Look again when the holder's lease runs out.
			left = min(left, time.Until(until)+time.Millisecond)
		}
		t := time.NewTimer(max(left, time.Millisecond))
		select {
		case <-ch:
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return p
		}
		t.Stop()
	}
}

// lock takes q's lock if it is free, under s.mu; else it answers
// StatusWait and when the holder's lease runs out.
func (s *stateServer) lock(q *statekv.Request) (statekv.Response, time.Time) {
	key := statekv.LockKey(q.Key)
	lv, held := lockOf(s.keys[key])
	if held && lv.Holder != q.Holder {
		return statekv.Response{Status: statekv.StatusWait}, time.Unix(0, lv.Expires)
	}
	return s.set(key, lockRecord(q.Holder, q.Dur)), time.Time{}
}

// barrier has q's participant arrive at its barrier, under s.mu.
func (s *stateServer) barrier(q *statekv.Request) statekv.Response {
	key := statekv.BarrierKey(q.Key)
	var b barrierValue
	if e := s.keys[key]; e != nil {
		_ = json.Unmarshal(e.value, &b)
		if b.N != q.N {
			return statekv.Response{Status: statekv.StatusBarrier,
				Msg: fmt.Sprintf("barrier %s is for %d participants; this one says %d", q.Key, b.N, q.N)}
		}
	} else {
		b.N = q.N
	}
	here := slices.Contains(b.Arrived, q.Holder)
	switch {
	case b.Open && here:
		return statekv.Response{Status: statekv.StatusOK}
	case b.Open:
		return statekv.Response{Status: statekv.StatusBarrier,
			Msg: fmt.Sprintf("barrier %s was already released (more than %d participants?)", q.Key, b.N)}
	case here:
		return statekv.Response{Status: statekv.StatusWait}
	}
	b.Arrived = append(b.Arrived, q.Holder)
	b.Open = uint64(len(b.Arrived)) >= b.N
	v, _ := json.Marshal(b)
	if p := s.set(key, v); p.Status != statekv.StatusOK {
		return p // the state is full
	}
	if b.Open {
		return statekv.Response{Status: statekv.StatusOK}
	}
	return statekv.Response{Status: statekv.StatusWait}
}

// watch sends the changes to the keys that start with q.Key after
// revision q.Rev (0: from now) on c, in order, until c closes. The first
// response says from which revision on.
func (s *stateServer) watch(c net.Conn, r *bufio.Reader, w *bufio.Writer, q statekv.Request) {
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, r) // the client says nothing more; EOF when it leaves
		close(gone)
	}()
	var out []byte
	send := func(p *statekv.Response) bool {
		out = statekv.AppendResponse(out[:0], p)
		_, err := w.Write(out)
		return err == nil
	}
	s.mu.Lock()
	from := q.Rev
	if from == 0 || from > s.rev {
		from = s.rev
	}
	first := statekv.Response{Status: statekv.StatusOK, Rev: from}
	if from+1 < s.log0 {
		first = statekv.Response{Status: statekv.StatusGap, Rev: from,
			Msg: fmt.Sprintf("the changes after revision %d are no longer kept (the server keeps the last %d, and %d bytes of them)", from, keepChanges, keepChangeBytes)}
	}
	s.mu.Unlock()
	if !send(&first) || w.Flush() != nil || first.Status != statekv.StatusOK {
		return
	}
	for {
		s.mu.Lock()
		if from+1 < s.log0 {
			// More than keepChanges came while this watcher was sending.
			s.mu.Unlock()
			send(&statekv.Response{Status: statekv.StatusGap, Rev: from,
				Msg: fmt.Sprintf("the watcher fell behind the changes kept (the last %d, and %d bytes of them)", keepChanges, keepChangeBytes)})
			w.Flush()
			return
		}
		pending := slices.Clone(s.changes[from+1-s.log0:])
		ch := s.waitChange()
		s.mu.Unlock()
		for i, chg := range pending {
			rev := from + 1 + uint64(i)
			if !statekv.Visible(chg.key, q.Key) {
				continue
			}
			if !send(&statekv.Response{Status: statekv.StatusChange, Rev: rev, Key: chg.key, Value: chg.value}) {
				return
			}
		}
		from += uint64(len(pending))
		if w.Flush() != nil {
			return
		}
		select {
		case <-ch:
		case <-gone:
			return
		case <-s.closing:
			return
		}
	}
}

// journal writes changed keys to the bucket, each change at most
// journalDelay after it was made, until the server closes.
func (s *stateServer) journal() {
	defer s.wg.Done()
	for {
		select {
		case <-s.kick:
		case <-s.closing:
			return
		}
		select {
		case <-time.After(journalDelay):
		case <-s.closing:
			return // close flushes
		}
		s.flush()
	}
}

// flush writes the keys changed since the last flush to the bucket.
func (s *stateServer) flush() {
	s.mu.Lock()
	type rec struct {
		key   string
		value []byte
	}
	var recs []rec
	for k := range s.dirty {
		var v []byte
		if e := s.keys[k]; e != nil {
			v = e.value
		}
		recs = append(recs, rec{k, v})
	}
	clear(s.dirty)
	s.mu.Unlock()
	if s.kv == nil {
		return
	}
	// While the store cannot write, the keys wait for it, and a write
	// that finds it failing (no answer within the bound) leaves the rest
	// for then: the record is written behind, and no write holds up the
	// task that ended or the run.
	redirty := func(recs []rec) {
		s.mu.Lock()
		for _, r := range recs {
			s.dirty[r.key] = true
		}
		s.mu.Unlock()
	}
	gen, down := 0, false
	if s.storeGen != nil {
		gen, down = s.storeGen()
	}
	if down {
		redirty(recs)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, r := range recs {
		var err error
		if r.value == nil {
			err = s.kv.Delete(ctx, r.key)
		} else {
			b, _ := json.Marshal(statekv.Envelope{V: r.value})
			_, err = s.kv.Put(ctx, r.key, b)
		}
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			s.log.Warn("state not recorded in the bucket", "key", r.key, "error", err)
			if isStoreTrouble(err) {
				redirty(recs[i:])
				if s.trouble != nil && !s.trouble(gen, fmt.Errorf("record the shared state: %w", err)) {
					s.kickJournal() // lost to a failure that is over: again
				}
				return
			}
		}
	}
}

// kickJournal has the journal write the changed keys soon.
func (s *stateServer) kickJournal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// seed sets initial values.
func (s *stateServer) seed(values map[string]json.RawMessage) error {
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if msg := statekv.CheckKey(k); msg != "" {
			return fmt.Errorf("state: invalid key %s", msg)
		}
		if !json.Valid(values[k]) {
			return fmt.Errorf("state %q: not JSON", k)
		}
		if p := s.set(k, values[k]); p.Status != statekv.StatusOK {
			return fmt.Errorf("state block: %s", p.Msg)
		}
	}
	return nil
}

// snapshot returns every key's value but the store's own. The values
// are the server's own, not copies (the state may be large): set never
// changes a value in place, and the caller must not either.
func (s *stateServer) snapshot() map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	for k, e := range s.keys {
		if !strings.HasPrefix(k, statekv.Reserved) {
			out[k] = e.value
		}
	}
	return out
}
