package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/statekv"
)

// Errors of shared state. Each error a State method returns wraps one of
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
	// ErrNoState: the task runs without a host (by hand), so there is no
	// run to share state with.
	ErrNoState = errors.New("shared state needs a host: run the task with `taskhost run`")
)

// MaxValueBytes is the largest value, as JSON, that the store takes.
const MaxValueBytes = statekv.MaxValueBytes

// DefaultLease is a lock's lease when Lock is given none.
const DefaultLease = 10 * time.Second

// keyRe is what the store allows in a key: dot-separated tokens of
// letters, digits, '-', '_', '=' and '/'.
var keyRe = regexp.MustCompile(`^[-/_=A-Za-z0-9]+(\.[-/_=A-Za-z0-9]+)*$`)

const reserved = statekv.Reserved

// State is the run's shared state: a key/value store that every task of
// the run and every process they start reaches, with revisions,
// compare-and-set, counters, locks, barriers and watches. Values are any
// Go values that encode as JSON. Get one with T.State.
//
// Every method retries through a dropped connection until the task's
// context ends, and applies each change once: a counter never loses or
// doubles an increment, and a compare-and-set never applies twice.
type State struct {
	ctx    context.Context
	js     jetstream.JetStream
	bucket string
	kv     jetstream.KeyValue
	st     jetstream.Stream // the bucket's stream, opened on first need
	err    error
	writer string // this process's name in the store's records

	mu  sync.Mutex
	ops uint64
	// counters holds, per key, what this process's last Add wrote there,
	// so that its next Add can write on top of it without reading first
	// (the write names the revision it builds on, so a key that changed
	// since costs one refused write, and then a read as usual). A key
	// whose last Add found it changed is left out: it has other writers.
	counters map[string]counterCache
}

type counterCache struct {
	env envelope
	rev uint64
}

type (
	envelope = statekv.Envelope
	opRec    = statekv.OpRec
)

// Change is one change seen by Watch.
type Change struct {
	Key      string
	Value    json.RawMessage // nil when Deleted
	Revision uint64
	Deleted  bool
}

// Decode decodes the changed value into v.
func (c Change) Decode(v any) error { return json.Unmarshal(c.Value, v) }

// State returns the run's shared state. Its methods use the task's
// context.
func (t *T) State() *State {
	t.run.stateOnce.Do(func() { t.run.state = openState(t.ctx, t.run) })
	return t.run.state
}

func openState(ctx context.Context, rs *runState) *State {
	s := &State{ctx: ctx, writer: fmt.Sprintf("%s/%d/%s", rs.taskID, rs.pid, randomSuffix())}
	if rs.conn == nil || rs.hub.GetStateBucket() == "" {
		s.err = ErrNoState
		return s
	}
	js, err := jetstream.New(rs.conn)
	if err != nil {
		s.err = err
		return s
	}
	s.js, s.bucket = js, rs.hub.GetStateBucket()
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s.kv, err = js.KeyValue(actx, rs.hub.GetStateBucket())
		cancel()
		if err == nil || ctx.Err() != nil || definite(err) {
			break
		}
	}
	if err != nil {
		s.err = fmt.Errorf("open the run's state: %w", err)
	}
	return s
}

// definite reports whether err is the store's answer (as opposed to a
// lost connection or a timeout, after which the operation's outcome is
// unknown and it is tried again).
func definite(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) ||
		errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) ||
		errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) ||
		errors.Is(err, jetstream.ErrInvalidKey) || errors.Is(err, nats.ErrMaxPayload)
}

// attempt is how long one try of an operation may take before it is
// taken as lost and tried again.
const attempt = time.Second

// try runs op until it gives a definite answer, retrying (with a short
// pause) after a lost connection or a timeout, until the task's context
// ends. op is told whether an earlier try's outcome is unknown.
func (s *State) try(what string, op func(ctx context.Context, unsure bool) error) error {
	if s.err != nil {
		return s.err
	}
	unsure := false
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
		ctx, cancel := context.WithTimeout(s.ctx, attempt)
		err := op(ctx, unsure)
		cancel()
		if err == nil || definite(err) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) ||
			errors.Is(err, ErrConflict) || errors.Is(err, ErrNotHolder) || errors.Is(err, ErrBarrier) ||
			errors.Is(err, ErrNotCounter) ||
			errors.Is(err, ErrTooLarge) || errors.Is(err, errRetry) {
			if errors.Is(err, errRetry) {
				continue
			}
			return err
		}
		if s.ctx.Err() != nil {
			return fmt.Errorf("%s: %w (last error: %v)", what, s.ctx.Err(), err)
		}
		unsure = true
		select {
		case <-time.After(pause):
		case <-s.ctx.Done():
		}
	}
}

// errRetry makes try run the operation again at once (a lost race).
var errRetry = errors.New("retry")

func (s *State) nextOp() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops++
	return s.ops
}

func checkKey(key string) error {
	if !keyRe.MatchString(key) {
		return fmt.Errorf("%w %q: use dot-separated tokens of letters, digits, '-', '_', '=' and '/'", ErrBadKey, key)
	}
	if strings.HasPrefix(key, reserved) {
		return fmt.Errorf("%w %q: keys starting with %q are the store's own", ErrBadKey, key, reserved)
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

// read gets a key's envelope and revision; rev 0 means absent.
func (s *State) read(ctx context.Context, key string) (envelope, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return envelope{}, 0, nil
	}
	if err != nil {
		return envelope{}, 0, err
	}
	var env envelope
	if err := json.Unmarshal(e.Value(), &env); err != nil {
		return envelope{}, 0, fmt.Errorf("%q holds a value the store did not write: %w", key, err)
	}
	return env, e.Revision(), nil
}

// write sets key to env if its latest revision is rev (0: if absent).
func (s *State) write(ctx context.Context, key string, env envelope, rev uint64) (uint64, error) {
	b, err := json.Marshal(env)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		n, err := s.kv.Create(ctx, key, b)
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, errRetryOrConflict
		}
		return n, err
	}
	n, err := s.kv.Update(ctx, key, b, rev)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return 0, errRetryOrConflict
	}
	return n, err
}

// errRetryOrConflict is write's word for "the key changed since it was read".
var errRetryOrConflict = fmt.Errorf("%w", ErrConflict)

// Get decodes key's value into v and returns its revision.
func (s *State) Get(key string, v any) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	var rev uint64
	err := s.try("get "+key, func(ctx context.Context, _ bool) error {
		env, r, err := s.read(ctx, key)
		if err != nil {
			return err
		}
		if r == 0 {
			return fmt.Errorf("%w: %q", ErrNotFound, key)
		}
		rev = r
		if v != nil {
			return json.Unmarshal(env.V, v)
		}
		return nil
	})
	return rev, err
}

// Put sets key to v, whatever it held, and returns the new revision.
func (s *State) Put(key string, v any) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	b, err := encodeValue(key, v)
	if err != nil {
		return 0, err
	}
	data, _ := json.Marshal(envelope{V: b})
	// A message id makes a resent Put store once (the bucket de-duplicates
	// by id for two minutes), so a watcher does not see it twice.
	msg := &nats.Msg{Subject: "$KV." + s.bucket + "." + key, Data: data}
	id := fmt.Sprintf("%s.%d", s.writer, s.nextOp())
	var rev uint64
	err = s.try("put "+key, func(ctx context.Context, _ bool) error {
		ack, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
		if err == nil {
			rev = ack.Sequence
		}
		return err
	})
	return rev, err
}

// Create sets key to v only if it has no value, and returns the new
// revision; ErrExists if it has one.
func (s *State) Create(key string, v any) (uint64, error) {
	return s.swap(key, v, 0, true)
}

// CompareAndSwap sets key to v only if its latest revision is rev, and
// returns the new revision; ErrConflict if it is not.
func (s *State) CompareAndSwap(key string, v any, rev uint64) (uint64, error) {
	if rev == 0 {
		return 0, fmt.Errorf("%w: CompareAndSwap needs the revision read (use Create for a key that has none)", ErrConflict)
	}
	return s.swap(key, v, rev, false)
}

func (s *State) swap(key string, v any, rev uint64, create bool) (uint64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	b, err := encodeValue(key, v)
	if err != nil {
		return 0, err
	}
	op := s.nextOp()
	var out uint64
	var lost uint64 // base revision of the earliest write whose outcome is unknown
	err = s.try("set "+key, func(ctx context.Context, _ bool) error {
		if lost != 0 {
			if rev, _, ok, err := s.applied(key, lost, op); err != nil {
				return err
			} else if ok {
				out = rev // the earlier try applied; its acknowledgement was lost
				return nil
			}
		}
		env, cur, err := s.read(ctx, key)
		if err != nil {
			return err
		}
		if create && cur != 0 {
			return fmt.Errorf("%w: %q", ErrExists, key)
		}
		if !create && cur != rev {
			return fmt.Errorf("%w: %q is at revision %d, not %d", ErrConflict, key, cur, rev)
		}
		env.V = b
		env.Record(s.writer, opRec{Seq: op})
		out, err = s.write(ctx, key, env, cur)
		if err != nil && !definite(err) && !errors.Is(err, errRetryOrConflict) && (lost == 0 || cur+1 < lost) {
			lost = cur + 1
		}
		if errors.Is(err, errRetryOrConflict) {
			if create {
				return fmt.Errorf("%w: %q", ErrExists, key)
			}
			return fmt.Errorf("%w: %q changed", ErrConflict, key)
		}
		return err
	})
	return out, err
}

// Delete removes key's value. Deleting a key that has none is not an error.
func (s *State) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	// As kv.Delete does (a marker with the KV-Operation header), with a
	// message id so that a resent delete stores once.
	msg := &nats.Msg{Subject: "$KV." + s.bucket + "." + key, Header: nats.Header{"KV-Operation": []string{"DEL"}}}
	id := fmt.Sprintf("%s.%d", s.writer, s.nextOp())
	return s.try("delete "+key, func(ctx context.Context, _ bool) error {
		_, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(id))
		return err
	})
}

// Keys lists the keys that have a value and start with prefix, sorted.
func (s *State) Keys(prefix string) ([]string, error) {
	var out []string
	err := s.try("keys", func(ctx context.Context, _ bool) error {
		out = out[:0]
		keys, err := s.kv.Keys(ctx)
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) && (!strings.HasPrefix(k, reserved) || strings.HasPrefix(prefix, reserved)) {
				out = append(out, k)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// Add adds delta to the integer counter at key (absent counts as 0) and
// returns the new value. Concurrent Adds from any number of processes all
// count, each once.
func (s *State) Add(key string, delta int64) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	op := s.nextOp()
	var out int64
	var lost uint64 // base revision of the earliest write whose outcome is unknown
	cached, fast := s.counter(key)
	conflicted := false
	err := s.try("add to "+key, func(ctx context.Context, _ bool) error {
		var env envelope
		var cur uint64
		if fast {
			fast = false // once: a second try reads
			env, cur = cached.env, cached.rev
		} else {
			var err error
			if env, cur, err = s.read(ctx, key); err != nil {
				return err
			}
		}
		if lost != 0 {
			// Did an earlier try apply? The latest value says so unless a
			// Put or Delete came since; then the revisions do.
			r, ok := env.Find(s.writer, op)
			if !ok {
				var err error
				if _, r, ok, err = s.applied(key, lost, op); err != nil {
					return err
				}
			}
			if ok {
				out = r.R // its acknowledgement was lost
				return nil
			}
		}
		var n int64
		if cur != 0 {
			if err := json.Unmarshal(env.V, &n); err != nil {
				return fmt.Errorf("%w: %q holds %s", ErrNotCounter, key, env.V)
			}
		}
		n += delta
		env.V, _ = json.Marshal(n)
		env.Record(s.writer, opRec{Seq: op, R: n})
		rev, err := s.write(ctx, key, env, cur)
		if err != nil {
			s.setCounter(key, counterCache{}, false)
			if errors.Is(err, errRetryOrConflict) {
				conflicted = true
				return errRetry // another writer got there first: read again
			}
			if !definite(err) && (lost == 0 || cur+1 < lost) {
				lost = cur + 1
			}
			return err
		}
		s.setCounter(key, counterCache{env: env, rev: rev}, !conflicted)
		out = n
		return nil
	})
	return out, err
}

// counter returns what this process's last Add wrote at key, if the next
// Add may build on it without reading.
func (s *State) counter(key string) (counterCache, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[key]
	// A copy: Adds from several goroutines may build on it at once.
	w := make(map[string][]opRec, len(c.env.W))
	for k, v := range c.env.W {
		w[k] = slices.Clone(v)
	}
	c.env.W = w
	return c, ok
}

func (s *State) setCounter(key string, c counterCache, keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !keep {
		delete(s.counters, key)
		return
	}
	if s.counters == nil {
		s.counters = map[string]counterCache{}
	}
	s.counters[key] = c
}

// applied looks through key's revisions from from on for this writer's
// once-only write op (the bucket keeps every revision of a run), and says
// at which revision it applied, if it did. It stops at the first revision
// written by a once-only write, so it reads more than one or two only past
// Puts and Deletes; it has a deadline of its own rather than one try's.
func (s *State) applied(key string, from, op uint64) (uint64, opRec, bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	st, err := s.stream(ctx)
	if err != nil {
		return 0, opRec{}, false, err
	}
	subject := "$KV." + s.bucket + "." + key
	for seq := from; ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, opRec{}, false, nil
		}
		if err != nil {
			return 0, opRec{}, false, err
		}
		var env envelope
		if len(m.Data) > 0 && json.Unmarshal(m.Data, &env) == nil {
			if r, ok := env.Find(s.writer, op); ok {
				return m.Sequence, r, true, nil
			}
			if len(env.W) > 0 {
				// A once-only write carries every writer's records forward
				// from the revision it replaced: had op applied before
				// it, it would be here.
				return 0, opRec{}, false, nil
			}
		}
		seq = m.Sequence + 1
	}
}

// stream is the bucket's stream, for reading past revisions.
func (s *State) stream(ctx context.Context) (jetstream.Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st == nil {
		st, err := s.js.Stream(ctx, "KV_"+s.bucket)
		if err != nil {
			return nil, err
		}
		s.st = st
	}
	return s.st, nil
}

// Watch sends every change to the keys that start with prefix, in order,
// from now until ctx ends; then it closes the channel.
func (s *State) Watch(ctx context.Context, prefix string) (<-chan Change, error) {
	if s.err != nil {
		return nil, s.err
	}
	var w jetstream.KeyWatcher
	err := s.try("watch", func(actx context.Context, _ bool) error {
		var err error
		if strings.HasSuffix(prefix, ".") && keyRe.MatchString(strings.TrimSuffix(prefix, ".")) {
			// Whole tokens: the server can filter.
			w, err = s.kv.Watch(ctx, prefix+">", jetstream.UpdatesOnly())
		} else {
			w, err = s.kv.WatchAll(ctx, jetstream.UpdatesOnly())
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(chan Change, 64)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil || !strings.HasPrefix(e.Key(), prefix) ||
					(strings.HasPrefix(e.Key(), reserved) && !strings.HasPrefix(prefix, reserved)) {
					continue
				}
				c := Change{Key: e.Key(), Revision: e.Revision(), Deleted: e.Operation() != jetstream.KeyValuePut}
				if !c.Deleted {
					var env envelope
					if json.Unmarshal(e.Value(), &env) == nil {
						c.Value = env.V
					}
				}
				select {
				case out <- c:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Lock is a lock held by this process. Its lease is renewed while the
// process lives; if the process dies, the lock is free again once the
// lease runs out.
type Lock struct {
	s      *State
	key    string
	holder string
	lease  time.Duration
	mu     sync.Mutex
	rev    uint64
	stop   chan struct{}
	done   chan struct{}
}

type lockValue struct {
	Holder  string `json:"holder"`
	Expires int64  `json:"expires"` // Unix nanoseconds
}

// Lock takes the lock called name, waiting until it is free or the task's
// context ends. lease is how long the lock outlives a holder that died
// without releasing it (0 means DefaultLease); while the holder lives the
// lease is renewed.
func (s *State) Lock(name string, lease time.Duration) (*Lock, error) {
	if err := checkKey(name); err != nil {
		return nil, err
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	key := reserved + "lock." + name
	// Each Lock call is a holder of its own, so that goroutines of one
	// process wait for each other too.
	l := &Lock{s: s, key: key, lease: lease, holder: fmt.Sprintf("%s#%d", s.writer, s.nextOp())}
	for {
		var wait time.Duration
		err := s.try("lock "+name, func(ctx context.Context, unsure bool) error {
			env, cur, err := s.read(ctx, key)
			if err != nil {
				return err
			}
			var lv lockValue
			if cur != 0 {
				_ = json.Unmarshal(env.V, &lv)
			}
			now := time.Now()
			switch {
			case cur != 0 && lv.Holder == l.holder && unsure:
				l.rev = cur // taken by our earlier try
				return nil
			case cur != 0 && lv.Expires > now.UnixNano():
				wait = time.Duration(lv.Expires - now.UnixNano())
				return nil
			}
			v, _ := json.Marshal(lockValue{Holder: l.holder, Expires: now.Add(lease).UnixNano()})
			rev, err := s.write(ctx, key, envelope{V: v}, cur)
			if errors.Is(err, errRetryOrConflict) {
				wait = 0
				return errRetry
			}
			l.rev = rev
			return err
		})
		if err != nil {
			return nil, err
		}
		if l.rev != 0 {
			l.stop, l.done = make(chan struct{}), make(chan struct{})
			go l.renew()
			return l, nil
		}
		if err := s.waitChange(key, wait); err != nil {
			return nil, fmt.Errorf("lock %s: %w", name, err)
		}
	}
}

// waitChange waits until key changes, at most d, or the context ends.
func (s *State) waitChange(key string, d time.Duration) error {
	ctx, cancel := context.WithTimeout(s.ctx, d)
	defer cancel()
	w, err := s.kv.Watch(ctx, key, jetstream.UpdatesOnly())
	if err != nil {
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		time.Sleep(min(d, 50*time.Millisecond))
		return nil
	}
	defer w.Stop()
	for {
		select {
		case e := <-w.Updates():
			if e != nil {
				return nil
			}
		case <-ctx.Done():
			return s.ctx.Err()
		}
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
		l.mu.Lock()
		ctx, cancel := context.WithTimeout(l.s.ctx, attempt)
		env, cur, err := l.s.read(ctx, l.key)
		if err == nil {
			var lv lockValue
			_ = json.Unmarshal(env.V, &lv)
			if cur == 0 || lv.Holder != l.holder {
				cancel()
				l.mu.Unlock()
				return // lost: Unlock will say so
			}
			v, _ := json.Marshal(lockValue{Holder: l.holder, Expires: time.Now().Add(l.lease).UnixNano()})
			if rev, err := l.s.write(ctx, l.key, envelope{V: v}, cur); err == nil {
				l.rev = rev
			}
		}
		cancel()
		l.mu.Unlock()
	}
}

// Unlock releases the lock; ErrNotHolder if this process no longer holds
// it.
func (l *Lock) Unlock() error {
	if l.stop == nil {
		return fmt.Errorf("%w: %s", ErrNotHolder, strings.TrimPrefix(l.key, reserved+"lock."))
	}
	close(l.stop)
	<-l.done
	l.stop = nil
	name := strings.TrimPrefix(l.key, reserved+"lock.")
	return l.s.try("unlock "+name, func(ctx context.Context, unsure bool) error {
		env, cur, err := l.s.read(ctx, l.key)
		if err != nil {
			return err
		}
		var lv lockValue
		_ = json.Unmarshal(env.V, &lv)
		if cur == 0 || lv.Holder != l.holder {
			if unsure {
				return nil // our earlier try released it
			}
			return fmt.Errorf("%w: %s (its lease ran out and another process took it)", ErrNotHolder, name)
		}
		err = l.s.kv.Delete(ctx, l.key, jetstream.LastRevision(cur))
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return errRetry
		}
		return err
	})
}

type barrierValue struct {
	N       int      `json:"n"`
	Arrived []string `json:"arrived"`
	Open    bool     `json:"open"`
}

// Barrier waits until n participants (calls of Barrier, from any process
// of the run) have reached the barrier called name, then lets them all go
// on together. A barrier is used once; every participant must give the
// same n.
func (s *State) Barrier(name string, n int) error {
	if err := checkKey(name); err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("%w: barrier %s: n must be at least 1, not %d", ErrBarrier, name, n)
	}
	key := reserved + "barrier." + name
	me := fmt.Sprintf("%s#%d", s.writer, s.nextOp())
	for {
		open := false
		err := s.try("barrier "+name, func(ctx context.Context, _ bool) error {
			env, cur, err := s.read(ctx, key)
			if err != nil {
				return err
			}
			var b barrierValue
			if cur != 0 {
				_ = json.Unmarshal(env.V, &b)
				if b.N != n {
					return fmt.Errorf("%w: barrier %s is for %d participants; this one says %d", ErrBarrier, name, b.N, n)
				}
			} else {
				b.N = n
			}
			here := slices.Contains(b.Arrived, me)
			switch {
			case b.Open && here:
				open = true
				return nil
			case b.Open:
				return fmt.Errorf("%w: barrier %s was already released (more than %d participants?)", ErrBarrier, name, n)
			case here:
				return nil // arrived earlier; wait
			}
			b.Arrived = append(b.Arrived, me)
			b.Open = len(b.Arrived) >= n
			v, _ := json.Marshal(b)
			if _, err := s.write(ctx, key, envelope{V: v}, cur); err != nil {
				if errors.Is(err, errRetryOrConflict) {
					return errRetry
				}
				return err
			}
			open = b.Open
			return nil
		})
		if err != nil || open {
			return err
		}
		if err := s.waitChange(key, time.Minute); err != nil {
			return fmt.Errorf("barrier %s: %w", name, err)
		}
	}
}

// StateValue is State.Get for a value of type V.
func StateValue[V any](s *State, key string) (V, uint64, error) {
	var v V
	rev, err := s.Get(key, &v)
	return v, rev, err
}
