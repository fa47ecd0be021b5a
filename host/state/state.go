package state

import (
	"bufio"
	"bytes"
	"encoding/json"
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

	"github.com/taskhost/taskhost/internal/statekv"
)

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

// Change is a key's new value (nil: the key was deleted): what the server
// keeps of each change for watchers, and what it writes to the Bucket.
type Change struct {
	Key   string
	Value []byte
}

// Bucket is where the server writes the state behind: the record of each
// key's latest value, kept beside the run's events so that the record in
// the run directory holds the state when the host dies.
type Bucket interface {
	// Write records the changes, each key's latest value. It returns
	// those it could not record now (the server gives them again at its
	// next write, with any later change to the same keys), and whether
	// the server should write again soon rather than at the next change.
	Write(changes []Change) (unwritten []Change, soon bool)
}

// Config configures a Server. The zero value of each optional field is
// fine.
type Config struct {
	// Socket is where the server listens: a path in a directory only
	// this user may enter. Empty: in a directory of its own in the
	// temporary directory, removed at Close.
	Socket string
	// Check tells which task a token stands for: a connection's hello
	// names the token, and is refused when Check says false. Required.
	Check func(token string) (task string, ok bool)
	// Bucket, if set, is where the state is written behind.
	Bucket Bucket
	// Logger gets the server's own messages; nil discards them.
	Logger hclog.Logger
	// MaxBytes bounds the bytes of every key and value in the state
	// (max_state_bytes); 0 sets no bound.
	MaxBytes int64
	// DropEvery, for tests of reconnection only: after every DropEvery
	// requests (of all tasks), the server drops every task connection,
	// the one that made the request before its answer. 0 (the default)
	// never does.
	DropEvery int

	// portable, for tests: serve with a goroutine per connection, as
	// where there is no epoll loop.
	portable bool
}

// writerAnswers holds a writer's answers to its last keepAnswers writes,
// write n at n % keepAnswers, and the highest write number seen; its
// task, and when it last wrote (Server.writes).
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

// Server is a running state server. Its methods are safe for concurrent
// use.
type Server struct {
	log     hclog.Logger
	serving listener // serves the socket's connections
	path    string
	ownDir  string // a directory the server made for the socket, removed at close
	check   func(token string) (task string, ok bool)
	bucket  Bucket
	closing chan struct{}
	closed  sync.Once
	wg      sync.WaitGroup
	// flushing is held by each write to the bucket, from the keys it
	// takes to its end: two writes of one key at once could be stored
	// in the other order, the older value last.
	flushing sync.Mutex

	mu    sync.Mutex
	conns map[net.Conn]string // served by goroutines of their own, with their task
	rev   uint64
	keys  map[string]*stateEntry
	// size is the bytes of every key and value in keys; maxSize bounds
	// it (max_state_bytes).
	size, maxSize int64
	log0          uint64 // revision of changes[0]
	changes       []Change
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
}

// listener serves the socket's connections: the epoll loop on Linux
// (loop_linux.go), a goroutine per connection elsewhere (portable.go).
type listener interface {
	// run serves until stop; it is started on a goroutine of its own
	// and calls s.wg.Done when it returns.
	run()
	// closeTask closes the connections of a task that it serves itself,
	// and dropAll every one; both return how many.
	closeTask(task string) int
	dropAll() int
	// stop ends run and closes the connections it serves and the socket.
	stop()
}

// Start listens on the socket and serves the state until Close.
func Start(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Server{
		log: log, check: cfg.Check, bucket: cfg.Bucket, closing: make(chan struct{}), dropEvery: cfg.DropEvery, maxSize: cfg.MaxBytes,
		conns: map[net.Conn]string{}, keys: map[string]*stateEntry{},
		writers: map[string]*writerAnswers{}, byTask: map[string][]string{}, dirty: map[string]bool{},
		kick: make(chan struct{}, 1), log0: 1,
	}
	if s.check == nil {
		s.check = func(string) (string, bool) { return "", false }
	}
	path := cfg.Socket
	if path == "" {
		dir, err := os.MkdirTemp("", "taskhost-state-")
		if err != nil {
			return nil, err
		}
		s.ownDir, path = dir, filepath.Join(dir, "state.sock")
	}
	s.path = path
	var l listener
	var err error
	if cfg.portable {
		l, err = listenPortable(s)
	} else {
		l, err = listen(s)
	}
	if err != nil {
		if s.ownDir != "" {
			os.RemoveAll(s.ownDir)
		}
		return nil, fmt.Errorf("state socket: %w", err)
	}
	s.serving = l
	s.wg.Add(2)
	go l.run()
	go s.journal()
	return s, nil
}

// Socket is where the server listens.
func (s *Server) Socket() string { return s.path }

// CloseTask closes the task's connections, once its token is no longer
// good: Check says false for it from now on. It returns how many it
// closed. (A task's attempts, each with a token of its own, never
// overlap: the task's connections are the token's.)
func (s *Server) CloseTask(task string) int {
	n := s.serving.closeTask(task)
	// After the listener's: a connection it handed over meanwhile is here.
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

// DropAll closes every task connection (a test fault), and returns how
// many.
func (s *Server) DropAll() int {
	n := s.serving.dropAll()
	return n + s.dropHanded()
}

// dropHanded closes the connections served by goroutines of their own.
func (s *Server) dropHanded() int {
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

// EndTask forgets the answers kept for the task's processes: it ended,
// and they with it.
func (s *Server) EndTask(task string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.byTask[task] {
		delete(s.writers, w)
	}
	delete(s.byTask, task)
}

// waitChange returns a channel closed at the next change, under s.mu.
func (s *Server) waitChange() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// dropNow counts a request, and says whether to drop the connections.
func (s *Server) dropNow() bool {
	if s.dropEvery <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	return s.requests%s.dropEvery == 0
}

// Close stops the server: it closes every connection and the socket,
// and writes the last changes to the bucket. Calling it again does
// nothing.
func (s *Server) Close() {
	s.closed.Do(func() {
		close(s.closing)
		s.serving.stop()
		s.dropHanded()
		s.wg.Wait()
		s.flushLast()
		if s.ownDir != "" {
			os.RemoveAll(s.ownDir)
		}
	})
}

// hello checks a connection's first request, and returns the task and the
// writer it speaks for.
func (s *Server) hello(msg []byte) (task, writer string, ok bool) {
	q, err := statekv.DecodeRequest(msg)
	if err != nil || q.Op != statekv.OpHello || q.Holder == "" || len(q.Holder) > maxHolder {
		return "", "", false
	}
	task, ok = s.check(q.Key)
	return task, task + "/" + q.Holder, ok
}

// handed registers a connection that a goroutine of its own serves from
// now on; false if the server is closing.
func (s *Server) handed(c net.Conn, task string) bool {
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
func (s *Server) serveHanded(c net.Conn, task, writer string, out, in []byte) {
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
func (s *Server) faultDrop(task string) { s.faultDropped(task, s.DropAll()) }

// faultDropped logs a drop of n connections for the test fault.
func (s *Server) faultDropped(task string, n int) {
	s.log.Warn("test fault: dropping every state connection, one before its answer", "task", task, "connections", n)
}

// do carries out one request of writer's, a process of task's.
func (s *Server) do(task, writer string, q *statekv.Request) statekv.Response {
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
func (s *Server) forgetWriter() {
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
func (s *Server) write(key string, q *statekv.Request) statekv.Response {
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
func (s *Server) room(key string, value []byte) (statekv.Response, bool) {
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
func (s *Server) set(key string, value []byte) statekv.Response {
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
	s.changes = append(s.changes, Change{Key: key, Value: value})
	s.changeBytes += entryBytes(key, value)
	if len(s.changes) >= 2*keepChanges || s.changeBytes >= 2*keepChangeBytes {
		drop := 0
		for len(s.changes)-drop > keepChanges || s.changeBytes > keepChangeBytes {
			s.changeBytes -= entryBytes(s.changes[drop].Key, s.changes[drop].Value)
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
func (s *Server) wait(q *statekv.Request) statekv.Response {
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
func (s *Server) lock(q *statekv.Request) (statekv.Response, time.Time) {
	key := statekv.LockKey(q.Key)
	lv, held := lockOf(s.keys[key])
	if held && lv.Holder != q.Holder {
		return statekv.Response{Status: statekv.StatusWait}, time.Unix(0, lv.Expires)
	}
	return s.set(key, lockRecord(q.Holder, q.Dur)), time.Time{}
}

// barrier has q's participant arrive at its barrier, under s.mu.
func (s *Server) barrier(q *statekv.Request) statekv.Response {
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
func (s *Server) watch(c net.Conn, r *bufio.Reader, w *bufio.Writer, q statekv.Request) {
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
			if !statekv.Visible(chg.Key, q.Key) {
				continue
			}
			if !send(&statekv.Response{Status: statekv.StatusChange, Rev: rev, Key: chg.Key, Value: chg.Value}) {
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
func (s *Server) journal() {
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
		s.Flush()
	}
}

// Flush writes the keys changed since the last write to the bucket now,
// rather than within journalDelay. What the bucket could not record
// waits for the next write.
func (s *Server) Flush() { s.flush() }

// flush is Flush; it returns whether some changes are unwritten and the
// bucket asked to write again soon.
func (s *Server) flush() (again bool) {
	s.flushing.Lock()
	defer s.flushing.Unlock()
	s.mu.Lock()
	var changes []Change
	for k := range s.dirty {
		var v []byte
		if e := s.keys[k]; e != nil {
			v = e.value
		}
		changes = append(changes, Change{Key: k, Value: v})
	}
	clear(s.dirty)
	s.mu.Unlock()
	if s.bucket == nil {
		return false
	}
	rest, soon := s.bucket.Write(changes)
	if len(rest) > 0 {
		s.mu.Lock()
		for _, c := range rest {
			s.dirty[c.Key] = true
		}
		s.mu.Unlock()
	}
	if soon {
		s.FlushSoon()
	}
	return len(rest) > 0 && soon
}

// closeFlushWait bounds how long Close writes the last changes again
// while the bucket asks to (on a cluster, while the bucket has no
// leader).
const closeFlushWait = 30 * time.Second

// flushLast writes the last changes at Close: again and again while the
// bucket asks to write soon, for at most closeFlushWait. A bucket whose
// store is failing does not ask (the changes wait for the store), and
// Close does not wait for it.
func (s *Server) flushLast() {
	deadline := time.Now().Add(closeFlushWait)
	for s.flush() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
}

// FlushSoon has the server write the changed keys to the bucket soon (as
// after a change), for instance once the bucket's store writes again.
func (s *Server) FlushSoon() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Seed sets initial values (JSON each), within MaxBytes.
func (s *Server) Seed(values map[string]json.RawMessage) error {
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

// Snapshot returns every key's value but the store's own. The values
// are the server's own, not copies (the state may be large): set never
// changes a value in place, and the caller must not either.
func (s *Server) Snapshot() map[string]json.RawMessage {
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
