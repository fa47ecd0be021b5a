package stateclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/statekv"
)

// Errors of shared state. Each error a Client method returns wraps one of
// these or says what else went wrong.
var (
	// ErrNotFound: the key has no value.
	ErrNotFound = errors.New("key not found")
	// ErrExists: Create found the key already set.
	ErrExists = errors.New("key already exists")
	// ErrConflict: CompareAndSwap's revision is not the key's latest.
	ErrConflict = errors.New("revision is not the latest")
	// ErrBadKey: a key or name with characters the store does not allow.
	ErrBadKey = errors.New("invalid key")
	// ErrTooLarge: a value over MaxValueBytes.
	ErrTooLarge = errors.New("value too large")
	// ErrNotCounter: Add on a key that holds something other than an
	// integer.
	ErrNotCounter = errors.New("not an integer counter")
	// ErrNotHolder: Unlock of a lock this process does not hold (it was
	// released already, or its lease ran out and another process took it).
	ErrNotHolder = errors.New("lock not held")
	// ErrBarrier: a barrier used inconsistently (another n, or joined after
	// it was released).
	ErrBarrier = errors.New("barrier misuse")
	// ErrStateFull: the write would take the run's shared state over its
	// limit (the job's max_state_bytes, 64 MiB by default: the bytes of
	// every key and value). Nothing was written; a Delete, or a write
	// that makes a value smaller, makes room.
	ErrStateFull = errors.New("the shared state is full")
	// ErrNoState: the task runs without a host (by hand), so there is no
	// run to share state with.
	ErrNoState = errors.New("shared state needs a host: run the task with `taskhost run`")
)

// MaxValueBytes is the largest value, as JSON, that the store takes.
const MaxValueBytes = statekv.MaxValueBytes

// DefaultLease is a lock's lease when Lock is given none.
const DefaultLease = 10 * time.Second

// Client is one process's client of the run's shared state, which
// package sdk shows a task as its State: a key/value store that every
// task of the run and every process they start reaches, with revisions,
// compare-and-set, counters, locks, barriers and watches. Values are any
// Go values that encode as JSON.
//
// The host keeps the state and serves it over a Unix socket of the run's;
// each operation is one request and one answer. Every method retries
// through a lost connection until the task's context ends, and applies
// each change once: a counter never loses or doubles an increment, and a
// compare-and-set never applies twice.
type Client struct {
	ctx    context.Context
	err    error
	socket string
	token  string
	writer string // this process's name in the server's records

	mu   sync.Mutex
	ops  uint64
	idle []*stateConn // open connections not in use
}

// stateConn is one connection to the state server; one request at a time.
type stateConn struct {
	c   net.Conn
	r   *bufio.Reader
	in  []byte
	out []byte
}

// Open returns the client of the shared state that hub serves, for the
// process pid; its calls use ctx. Without a state socket (no host), every
// call returns ErrNoState.
func Open(ctx context.Context, hub *packv1.Hub, pid int) *Client {
	c := &Client{ctx: ctx, writer: fmt.Sprintf("%d/%s", pid, randomSuffix())}
	if hub.GetStateSocket() == "" {
		c.err = ErrNoState
		return c
	}
	c.socket, c.token = hub.GetStateSocket(), hub.GetToken()
	return c
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// attempt is how long one try of an operation may take before it is
// taken as lost and tried again.
const attempt = time.Second

// errDenied: the server refused the task's token.
var errDenied = errors.New("the state server refused this task's credentials")

func (s *Client) nextOp() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops++
	return s.ops
}

// call sends q and returns the server's answer, trying again (with the
// same request, which the server answers once) after a lost connection,
// until the task's context ends. long is for requests the server may hold
// for up to statekv.MaxWait.
func (s *Client) call(what string, q statekv.Request, long bool) (statekv.Response, error) {
	if s.err != nil {
		return statekv.Response{}, s.err
	}
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
		if err := s.ctx.Err(); err != nil {
			return statekv.Response{}, fmt.Errorf("%s: %w", what, err)
		}
		p, err := s.once(&q, long)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, errDenied) {
			return p, fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-time.After(pause):
		case <-s.ctx.Done():
			return statekv.Response{}, fmt.Errorf("%s: %w (last error: %v)", what, s.ctx.Err(), err)
		}
	}
}

// once makes one try of q on a connection.
func (s *Client) once(q *statekv.Request, long bool) (statekv.Response, error) {
	c, err := s.conn()
	if err != nil {
		return statekv.Response{}, err
	}
	d := attempt
	if long {
		d += statekv.MaxWait
		stop := context.AfterFunc(s.ctx, func() { c.c.SetDeadline(time.Now()) })
		defer stop()
	}
	p, err := c.roundTrip(q, time.Now().Add(d))
	if err != nil || long {
		// A connection that asked to be held is served apart by the host
		// from then on, more slowly: it is not used again.
		c.c.Close()
		return p, err
	}
	s.mu.Lock()
	s.idle = append(s.idle, c)
	s.mu.Unlock()
	return p, nil
}

// conn returns an idle connection, or a new one.
func (s *Client) conn() (*stateConn, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	return s.dial()
}

// dial opens a connection and says hello with the task's token.
func (s *Client) dial() (*stateConn, error) {
	nc, err := net.DialTimeout("unix", s.socket, attempt)
	if err != nil {
		return nil, err
	}
	c := &stateConn{c: nc, r: bufio.NewReaderSize(nc, 16<<10)}
	p, err := c.roundTrip(&statekv.Request{Op: statekv.OpHello, Key: s.token, Holder: s.writer}, time.Now().Add(attempt))
	if err == nil && p.Status != statekv.StatusOK {
		err = errDenied
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *stateConn) roundTrip(q *statekv.Request, deadline time.Time) (statekv.Response, error) {
	if err := c.c.SetDeadline(deadline); err != nil {
		return statekv.Response{}, err
	}
	c.out = statekv.AppendRequest(c.out[:0], q)
	if _, err := c.c.Write(c.out); err != nil {
		return statekv.Response{}, err
	}
	return c.read()
}

func (c *stateConn) read() (statekv.Response, error) {
	msg, err := statekv.ReadFrame(c.r, c.in)
	if err != nil {
		return statekv.Response{}, err
	}
	c.in = msg
	return statekv.DecodeResponse(msg)
}

// failure is the error for an answer that is not StatusOK.
func failure(p statekv.Response, key string) error {
	switch p.Status {
	case statekv.StatusNotFound:
		return fmt.Errorf("%w: %q", ErrNotFound, key)
	case statekv.StatusExists:
		return fmt.Errorf("%w: %q", ErrExists, key)
	case statekv.StatusConflict:
		return fmt.Errorf("%w: %q is at revision %d", ErrConflict, key, p.Rev)
	case statekv.StatusNotCounter:
		return fmt.Errorf("%w: %q holds %s", ErrNotCounter, key, p.Value)
	case statekv.StatusNotHolder:
		return fmt.Errorf("%w: %s (its lease ran out and another process took it, or it was released)", ErrNotHolder, key)
	case statekv.StatusBarrier:
		return fmt.Errorf("%w: %s", ErrBarrier, p.Msg)
	case statekv.StatusDenied:
		return errDenied
	}
	if statekv.IsFull(p) {
		return fmt.Errorf("%w: %s", ErrStateFull, strings.TrimPrefix(p.Msg, statekv.FullPrefix))
	}
	return fmt.Errorf("state: %q: %s (status %q)", key, p.Msg, p.Status)
}

func checkKey(key string) error {
	if msg := statekv.CheckKey(key); msg != "" {
		return fmt.Errorf("%w %s", ErrBadKey, msg)
	}
	return nil
}

func encodeValue(key string, v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("value for %q does not encode as JSON: %w", key, err)
	}
	if len(b) > MaxValueBytes {
		return nil, fmt.Errorf("%w: %q is %d bytes as JSON, over the limit of %d", ErrTooLarge, key, len(b), MaxValueBytes)
	}
	return b, nil
}

// Get decodes key's value into v and returns its revision.
func (s *Client) Get(key string, v any) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	p, err := s.call("get "+key, statekv.Request{Op: statekv.OpGet, Key: key}, false)
	if err != nil {
		return 0, err
	}
	if p.Status != statekv.StatusOK {
		return 0, failure(p, key)
	}
	if v != nil {
		if err := json.Unmarshal(p.Value, v); err != nil {
			return p.Rev, fmt.Errorf("state %q: %w", key, err)
		}
	}
	return p.Rev, nil
}

// write sends a change to key, numbered so that it applies once.
func (s *Client) write(what, key string, q statekv.Request) (statekv.Response, error) {
	q.ID, q.Key = s.nextOp(), key
	p, err := s.call(what+" "+key, q, false)
	if err == nil && p.Status != statekv.StatusOK {
		err = failure(p, key)
	}
	return p, err
}

// setValue checks key and encodes v, then sends q with it as the value.
func (s *Client) setValue(what, key string, v any, q statekv.Request) (statekv.Response, error) {
	if err := checkKey(key); err != nil {
		return statekv.Response{}, err
	}
	b, err := encodeValue(key, v)
	if err != nil {
		return statekv.Response{}, err
	}
	q.Value = b
	return s.write(what, key, q)
}

// Put sets key to v, whatever it held, and returns the new revision.
func (s *Client) Put(key string, v any) (uint64, error) {
	p, err := s.setValue("put", key, v, statekv.Request{Op: statekv.OpPut})
	return p.Rev, err
}

// Create sets key to v only if it has no value, and returns the new
// revision; ErrExists if it has one.
func (s *Client) Create(key string, v any) (uint64, error) {
	p, err := s.setValue("create", key, v, statekv.Request{Op: statekv.OpCreate})
	return p.Rev, err
}

// CompareAndSwap sets key to v only if its latest revision is rev, and
// returns the new revision; ErrConflict if it is not.
func (s *Client) CompareAndSwap(key string, v any, rev uint64) (uint64, error) {
	if rev == 0 {
		return 0, fmt.Errorf("%w: CompareAndSwap needs the revision read (use Create for a key that has none)", ErrConflict)
	}
	p, err := s.setValue("compare-and-swap", key, v, statekv.Request{Op: statekv.OpSwap, Rev: rev})
	if err != nil && p.Status == statekv.StatusConflict {
		err = fmt.Errorf("%w: %q is at revision %d, not %d", ErrConflict, key, p.Rev, rev)
	}
	return p.Rev, err
}

// Delete removes key's value. Deleting a key that has none is not an error.
func (s *Client) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.write("delete", key, statekv.Request{Op: statekv.OpDelete})
	return err
}

// Keys lists the keys that have a value and start with prefix, sorted.
func (s *Client) Keys(prefix string) ([]string, error) {
	p, err := s.call("keys", statekv.Request{Op: statekv.OpKeys, Key: prefix}, false)
	if err != nil {
		return nil, err
	}
	if p.Status != statekv.StatusOK {
		return nil, failure(p, prefix)
	}
	if len(p.Value) == 0 {
		return nil, nil
	}
	return strings.Split(string(p.Value), "\n"), nil
}

// Add adds delta to the integer counter at key (absent counts as 0) and
// returns the new value. Concurrent Adds from any number of processes all
// count, each once.
func (s *Client) Add(key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	p, err := s.write("add to", key, statekv.Request{Op: statekv.OpAdd, Delta: delta})
	return p.N, err
}

// Watch sends every change to the keys that start with prefix, in order,
// from now until ctx ends; then it closes the channel. Through a lost
// connection it goes on from the last change it sent; if the host no
// longer keeps the changes since (it keeps the last 65,536), the channel
// closes early. change makes what the channel carries of each change:
// the key, its new value (nil when it was deleted) and its revision.
func Watch[C any](s *Client, ctx context.Context, prefix string, change func(key string, value json.RawMessage, rev uint64) C) (<-chan C, error) {
	if s.err != nil {
		return nil, s.err
	}
	c, from, err := s.openWatch(ctx, prefix, 0)
	if err != nil {
		return nil, err
	}
	out := make(chan C, 64)
	go func() {
		defer close(out)
		for {
			stop := context.AfterFunc(ctx, func() { c.c.Close() })
			for {
				p, err := c.read()
				if err != nil {
					break
				}
				if p.Status != statekv.StatusChange {
					stop()
					c.c.Close()
					return // StatusGap: the changes since from are gone
				}
				from = p.Rev
				var value json.RawMessage
				if p.Value != nil {
					value = append(json.RawMessage(nil), p.Value...)
				}
				ch := change(p.Key, value, p.Rev)
				select {
				case out <- ch:
				case <-ctx.Done():
				}
				if ctx.Err() != nil {
					break
				}
			}
			stop()
			c.c.Close()
			if ctx.Err() != nil {
				return
			}
			if c, _, err = s.openWatch(ctx, prefix, from); err != nil {
				return
			}
		}
	}()
	return out, nil
}

// openWatch opens a watching connection for the changes after revision
// from (0: from now), trying until ctx or the task's context ends, and
// returns it with the revision it starts after.
func (s *Client) openWatch(ctx context.Context, prefix string, from uint64) (*stateConn, uint64, error) {
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
		if err := errors.Join(ctx.Err(), s.ctx.Err()); err != nil {
			return nil, 0, fmt.Errorf("watch: %w", err)
		}
		c, err := s.dial()
		if err == nil {
			var p statekv.Response
			p, err = c.roundTrip(&statekv.Request{Op: statekv.OpWatch, Key: prefix, Rev: from}, time.Now().Add(attempt))
			if err == nil && p.Status == statekv.StatusOK {
				_ = c.c.SetDeadline(time.Time{})
				return c, p.Rev, nil
			}
			c.c.Close()
			if err == nil {
				return nil, 0, fmt.Errorf("watch: %w", failure(p, prefix))
			}
		}
		if errors.Is(err, errDenied) {
			return nil, 0, fmt.Errorf("watch: %w", err)
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
	}
}

// Lock is a lock held by this process. Its lease is renewed while the
// process lives; if the process dies, the lock is free again once the
// lease runs out.
type Lock struct {
	s      *Client
	name   string
	holder string
	lease  time.Duration
	stop   chan struct{}
	done   chan struct{}
}

// Lock takes the lock called name, waiting until it is free or the task's
// context ends. lease is how long the lock outlives a holder that died
// without releasing it (0 means DefaultLease); while the holder lives the
// lease is renewed.
func (s *Client) Lock(name string, lease time.Duration) (*Lock, error) {
	if err := checkKey(name); err != nil {
		return nil, err
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	// Each Lock call is a holder of its own, so that goroutines of one
	// process wait for each other too.
	l := &Lock{s: s, name: name, lease: lease, holder: fmt.Sprintf("%s#%d", s.writer, s.nextOp())}
	for {
		p, err := s.call("lock "+name, statekv.Request{Op: statekv.OpLock, Key: name, Holder: l.holder, Dur: lease}, true)
		if err != nil {
			return nil, err
		}
		switch p.Status {
		case statekv.StatusOK:
			l.stop, l.done = make(chan struct{}), make(chan struct{})
			go l.renew()
			return l, nil
		case statekv.StatusWait:
			continue // still held: ask again
		}
		return nil, failure(p, name)
	}
}

// renew keeps the lease alive until Unlock.
func (l *Lock) renew() {
	defer close(l.done)
	t := time.NewTicker(l.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		p, err := l.s.write("renew lock", l.name, statekv.Request{Op: statekv.OpRenew, Holder: l.holder, Dur: l.lease})
		if err != nil && p.Status == statekv.StatusNotHolder {
			return // lost: Unlock will say so
		}
	}
}

// Unlock releases the lock; ErrNotHolder if this process no longer holds
// it.
func (l *Lock) Unlock() error {
	if l.stop == nil {
		return fmt.Errorf("%w: %s", ErrNotHolder, l.name)
	}
	close(l.stop)
	<-l.done
	l.stop = nil
	_, err := l.s.write("unlock", l.name, statekv.Request{Op: statekv.OpUnlock, Holder: l.holder})
	return err
}

// Barrier waits until n participants (calls of Barrier, from any process
// of the run) have reached the barrier called name, then lets them all go
// on together. A barrier is used once; every participant must give the
// same n.
func (s *Client) Barrier(name string, n int) error {
	if err := checkKey(name); err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("%w: barrier %s: n must be at least 1, not %d", ErrBarrier, name, n)
	}
	me := fmt.Sprintf("%s#%d", s.writer, s.nextOp())
	for {
		p, err := s.call("barrier "+name, statekv.Request{Op: statekv.OpBarrier, Key: name, Holder: me, N: uint64(n)}, true)
		if err != nil {
			return err
		}
		switch p.Status {
		case statekv.StatusOK:
			return nil
		case statekv.StatusWait:
			continue
		}
		return failure(p, name)
	}
}
