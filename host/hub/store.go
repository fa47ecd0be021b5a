package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The run's store is JetStream's, in the run directory's hub/. When a
// write to it fails (the disk is full, above all), nats-server keeps the
// error: the stream refuses every later write, without answering the
// publisher, even once there is room again. So the hub watches for that
// (the server's own error messages, which go to job.log, and the host's
// writes that fail), and when the store fails it shuts JetStream down, so
// that publishers are told at once ("no response from stream") rather than
// left without an answer, and says so (Config.OnStore). Then it starts
// JetStream again once the disk has room: JetStream reads the stream back
// from hub/, the hub reads on from the last event it had read, and the
// tasks' processes send again what was not acknowledged. If the store
// does not write again within Config.StoreWait, the hub says that too,
// and the runner stops the run.

const (
	// DefaultStoreWait is how long the store may fail to write before the
	// hub gives up on it, when Config.StoreWait is 0.
	DefaultStoreWait = 30 * time.Second
	// restartFree is the free space the store's file system needs before
	// the hub starts JetStream again.
	restartFree = 4 << 20
	// maxStore is JetStream's limit on what it stores. It is set, rather
	// than left to nats-server (three quarters of the space free when it
	// starts), so that JetStream never refuses a write on an estimate: on
	// a disk that other programs use too, the estimate is wrong both ways.
	// The disk itself is the limit, and a full disk is handled as above.
	maxStore = 1 << 50
)

// StoreEvent says that the run's store stopped writing, or writes again.
type StoreEvent struct {
	// Failing is true when the store stopped writing, and when it gave
	// up (GaveUp); false when it writes again.
	Failing bool
	// GaveUp: the store did not write again within Config.StoreWait.
	GaveUp bool
	// Err is why the store stopped writing.
	Err error
	// Down is how long the store has not written (for GaveUp and when it
	// writes again).
	Down time.Duration
	// Wait is Config.StoreWait.
	Wait time.Duration
}

// ErrStoreFailing is returned by Note while the run's store cannot write.
var ErrStoreFailing = errors.New("the run's store cannot write")

// storeWatch is the hub's watch over its store.
type storeWatch struct {
	dir     string
	wait    time.Duration
	onStore func(StoreEvent)
	jsCfg   server.JetStreamConfig // to start JetStream again
	kick    chan struct{}          // a write failed
	retry   chan struct{}          // try to start the store again now
	wg      sync.WaitGroup

	mu      sync.Mutex
	gen     int // failures so far
	failing bool
	cause   error     // why it failed (the first error of this failure)
	since   time.Time // when it failed
	ended   time.Time // when the last failure ended
	last    error     // the last failure's cause
	held    [][]byte  // notes held while it cannot write
	up      chan struct{}
}

// watchStore starts the watch; cfg is the hub's configuration.
func (h *Hub) watchStore(cfg Config) {
	w := &h.store
	w.dir, w.wait, w.onStore = cfg.StoreDir, cfg.StoreWait, cfg.OnStore
	if w.wait <= 0 {
		w.wait = DefaultStoreWait
	}
	if w.onStore == nil {
		w.onStore = func(StoreEvent) {}
	}
	if c := h.srv.JetStreamConfig(); c != nil {
		w.jsCfg = *c
	}
	w.jsCfg.StoreDir = cfg.StoreDir // EnableJetStream adds jetstream/ to it
	w.wg.Add(1)
	go h.storeLoop()
}

// init makes the channels the watch needs; it is called before the
// server can log anything.
func (w *storeWatch) init() {
	w.kick = make(chan struct{}, 1)
	w.retry = make(chan struct{}, 1)
	w.up = make(chan struct{})
	close(w.up)
}

// WriteFailed tells the hub that a write to the run directory failed
// (the host's own files): the store shares the disk, so it is treated as
// the store failing.
func (h *Hub) WriteFailed(err error) { h.storeTrouble(err) }

// storeTrouble notes that a write to the store failed, and wakes the
// watch. It never blocks: it is called from nats-server's logger.
func (h *Hub) storeTrouble(err error) {
	w := &h.store
	w.mu.Lock()
	if !w.failing && w.cause == nil {
		w.cause = err
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// StoreTrouble returns why the run's store could not write at some time
// since t (it cannot now, or could not for a while), or nil.
func (h *Hub) StoreTrouble(t time.Time) error {
	w := &h.store
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.failing:
		return fmt.Errorf("the run's store cannot write: %w", w.cause)
	case w.last != nil && w.ended.After(t):
		return fmt.Errorf("the run's store could not write for %s: %w", w.ended.Sub(w.since).Round(100*time.Millisecond), w.last)
	}
	return nil
}

// WaitStore makes the hub try to start its store again at once, if it
// cannot write, and waits until it can or ctx ends.
func (h *Hub) WaitStore(ctx context.Context) error {
	w := &h.store
	w.mu.Lock()
	up := w.up
	w.mu.Unlock()
	select {
	case w.retry <- struct{}{}:
	default:
	}
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return h.StoreTrouble(time.Time{})
	}
}

// storeLoop waits for the store to fail, and starts it again.
func (h *Hub) storeLoop() {
	w := &h.store
	defer w.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case <-w.kick:
		}
		w.mu.Lock()
		w.failing, w.since = true, time.Now()
		w.gen++
		cause := w.cause
		if cause == nil {
			cause = errors.New("a write failed")
			w.cause = cause
		}
		w.up = make(chan struct{})
		w.mu.Unlock()
		h.log.Error("the run's store cannot write: its writes wait until it can", "error", cause, "wait", w.wait)
		h.stopStore()
		w.onStore(StoreEvent{Failing: true, Err: cause, Wait: w.wait})
		if !h.restartWhenRoom(cause) {
			return
		}
	}
}

// restartWhenRoom tries to start the store again, when its disk has
// room, until it writes again (true) or the hub closes (false).
func (h *Hub) restartWhenRoom(cause error) bool {
	w := &h.store
	pause, gaveUp := 100*time.Millisecond, false
	for {
		select {
		case <-h.stop:
			return false
		case <-w.retry:
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
		w.mu.Lock()
		down := time.Since(w.since)
		w.mu.Unlock()
		if !gaveUp && down >= w.wait {
			gaveUp = true
			h.log.Error("the run's store did not write again in time", "wait", w.wait, "error", cause)
			w.onStore(StoreEvent{Failing: true, GaveUp: true, Err: cause, Down: down, Wait: w.wait})
		}
		if free, ok := freeSpace(w.dir); ok && free < restartFree {
			continue
		}
		// A failure seen until now is the one being recovered from.
		select {
		case <-w.kick:
		default:
		}
		if err := h.startStore(cause, down); err != nil {
			h.log.Warn("the run's store still cannot write", "error", err)
			h.stopStore()
			continue
		}
		w.mu.Lock()
		w.failing, w.ended, w.last, w.cause = false, time.Now(), cause, nil
		down = w.ended.Sub(w.since)
		close(w.up)
		w.mu.Unlock()
		h.log.Info("the run's store writes again", "down", down)
		w.onStore(StoreEvent{Err: cause, Down: down, Wait: w.wait})
		h.state.FlushSoon() // what the state's record missed meanwhile
		return true
	}
}

// stopStore stops reading the stream and shuts JetStream down.
func (h *Hub) stopStore() {
	if h.cc != nil {
		h.cc.Stop()
		h.cc = nil
	}
	if h.srv.JetStreamEnabled() {
		if err := h.srv.ShutdownJetStream(); err != nil {
			h.log.Warn("JetStream did not shut down", "error", err)
		}
	}
}

// startStore starts JetStream again, stores the notes held meanwhile and
// a note of the failure (the store writes again only if they are
// stored), and reads the stream on from where the hub stopped.
func (h *Hub) startStore(cause error, down time.Duration) error {
	if !h.srv.JetStreamEnabled() {
		cfg := h.store.jsCfg
		if err := h.srv.EnableJetStream(&cfg); err != nil {
			return fmt.Errorf("start JetStream: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := h.js.Stream(ctx, streamName); err != nil {
		return fmt.Errorf("the event stream: %w", err)
	}
	w := &h.store
	for {
		w.mu.Lock()
		if len(w.held) == 0 {
			w.mu.Unlock()
			break
		}
		b := w.held[0]
		w.mu.Unlock()
		if _, err := h.js.Publish(ctx, h.noteSubject(), b); err != nil {
			return fmt.Errorf("store a held note: %w", err)
		}
		w.mu.Lock()
		w.held = w.held[1:]
		w.mu.Unlock()
	}
	b, _ := json.Marshal(Note{Kind: NoteStore, Data: mustMarshal(map[string]any{
		"error": cause.Error(), "down_seconds": down.Seconds()})})
	if _, err := h.js.Publish(ctx, h.noteSubject(), b); err != nil {
		return fmt.Errorf("store a note: %w", err)
	}
	h.mu.Lock()
	next := h.processed + 1
	h.mu.Unlock()
	cons, err := h.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
	if err != nil {
		return fmt.Errorf("read the event stream: %w", err)
	}
	// Read ahead no more than at the start: what the server holds for
	// the host's connection stays under maxPending.
	if h.cc, err = cons.Consume(h.read, jetstream.PullMaxBytes(readAheadBytes)); err != nil {
		return fmt.Errorf("read the event stream: %w", err)
	}
	return nil
}

// NoteStore is the kind of the note the hub keeps when its store writes
// again after a failure: Data has the error and how long it lasted.
const NoteStore = "store"

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // our own values
	}
	return b
}

// publishNote stores a note; while the store cannot write, it holds it
// until it can, and returns ErrStoreFailing.
func (h *Hub) publishNote(ctx context.Context, b []byte) error {
	ctx, cancel := bounded(ctx, 10*time.Second)
	defer cancel()
	pause := time.Millisecond
	var opts []jetstream.PublishOpt
	if h.external != nil {
		// Sent again through a change of the stream's leader: stored once.
		opts = append(opts, jetstream.WithMsgID("note."+randomHex(12)))
	}
	for try := 0; ; try++ {
		gen, failing := h.storeGen()
		if failing {
			h.holdNote(b)
			return fmt.Errorf("%w; the note is held until it can", ErrStoreFailing)
		}
		pctx, pcancel := context.WithCancel(ctx)
		if h.external != nil {
			// A note sent while the cluster elects the stream's leader
			// is not answered: it is sent again after clusterAPIWait.
			pctx, pcancel = context.WithTimeout(ctx, clusterAPIWait)
		}
		_, err := h.js.Publish(pctx, h.noteSubject(), b, opts...)
		pcancel()
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeTooManyRequests {
			// The stream drops what comes in faster than it can store (a
			// task flooding the hub): try again, until ctx ends.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(pause):
			}
			pause = min(2*pause, 100*time.Millisecond)
			try--
			continue
		}
		if err == nil || !isStoreTrouble(err) {
			return err
		}
		if h.external != nil {
			// On a cluster, no answer while the stream's nodes choose a
			// leader (its leader's node went down): again, until ctx ends.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(pause):
			}
			pause = min(2*pause, 250*time.Millisecond)
			continue
		}
		if h.troubleAt(gen, fmt.Errorf("store a note: %w", err)) || try > 0 {
			h.holdNote(b)
			return fmt.Errorf("%w; the note is held until it can", ErrStoreFailing)
		}
		// The store failed and wrote again while the note was on its way:
		// once more.
	}
}

func (h *Hub) holdNote(b []byte) {
	h.store.mu.Lock()
	h.store.held = append(h.store.held, b)
	h.store.mu.Unlock()
}

// storeGen returns how many times the store failed so far, and whether it
// is failing now.
func (h *Hub) storeGen() (int, bool) {
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	return h.store.gen, h.store.failing
}

// troubleAt reports a write that failed, which began when storeGen
// returned gen: unless the store failed since (the write may have been
// lost to that failure, which is known), it is a failure of its own.
// It says whether the store is failing (or now fails); on a cluster,
// never.
func (h *Hub) troubleAt(gen int, err error) bool {
	if h.external != nil {
		return false // a cluster's store is not watched: try again
	}
	g, failing := h.storeGen()
	if g != gen {
		return failing
	}
	h.storeTrouble(err)
	return true
}

// bounded gives ctx a deadline of d from now if it has none.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// isStoreTrouble tells a write that failed in the store (no answer, or
// the store's refusal) from one refused for what it is (too large).
func isStoreTrouble(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrNoResponders):
		return true
	case errors.As(err, &apiErr):
		if streamFull(apiErr) {
			// The run's stream is at max_run_bytes: the limit, not the
			// disk, and it will not write again by waiting.
			return false
		}
		// JetStream's codes for "store failed" and "insufficient resources".
		return apiErr.ErrorCode == 10077 || apiErr.ErrorCode == 10023 || apiErr.Code == 503
	}
	return storeMessage(err.Error())
}

// streamFull tells whether JetStream refused a message because the stream
// holds its MaxBytes (max_run_bytes): 10077 with "maximum bytes exceeded",
// where a store that cannot write says 10077 with the file system's error.
func streamFull(e *jetstream.APIError) bool {
	return e.ErrorCode == 10077 && strings.Contains(strings.ToLower(e.Description), "maximum bytes exceeded")
}

// diskFailures are the file system's errors that mean a store cannot
// write; storeFailures what nats-server says when its store cannot, in
// messages that name JetStream, a file store or a stream (lower case).
var (
	diskFailures  = []string{"no space left on device", "disk quota exceeded", "read-only file system", "input/output error"}
	storeFailures = []string{"write error", "failed to store", "resource limits exceeded", "out of resources",
		"out of storage", "insufficient resources", "disabling jetstream", "will be disabled"}
	storeWords = []string{"jetstream", "filestore", "stream"}
)

// storeMessage tells whether a message says that the store cannot write.
func storeMessage(msg string) bool {
	m := strings.ToLower(msg)
	has := func(ss []string) bool {
		for _, s := range ss {
			if strings.Contains(m, s) {
				return true
			}
		}
		return false
	}
	return has(diskFailures) || has(storeWords) && has(storeFailures)
}

// osErrorText finds the file system's error in one of nats-server's
// messages ("JetStream failed to store a msg on stream '$G > EVENTS':
// write /x/1.blk: no space left on device"), or returns the message.
var osErrorText = regexp.MustCompile(`(?:write|open|sync|rename|remove|truncate|mkdir|close) /\S+: [^:]+$`)

// natsLogger writes nats-server's messages to the hub's log, and tells
// the hub when one says that its store cannot write.
type natsLogger struct {
	log     hclog.Logger
	trouble func(error)
}

func (l natsLogger) Noticef(format string, v ...any) { l.log.Trace(fmt.Sprintf(format, v...)) }
func (l natsLogger) Debugf(format string, v ...any)  { l.log.Trace(fmt.Sprintf(format, v...)) }
func (l natsLogger) Tracef(format string, v ...any)  { l.log.Trace(fmt.Sprintf(format, v...)) }
func (l natsLogger) Warnf(format string, v ...any)   { l.report(hclog.Warn, fmt.Sprintf(format, v...)) }
func (l natsLogger) Errorf(format string, v ...any)  { l.report(hclog.Error, fmt.Sprintf(format, v...)) }
func (l natsLogger) Fatalf(format string, v ...any)  { l.report(hclog.Error, fmt.Sprintf(format, v...)) }

func (l natsLogger) report(level hclog.Level, msg string) {
	l.log.Log(level, msg)
	if storeMessage(msg) {
		if m := osErrorText.FindString(msg); m != "" {
			msg = m
		}
		l.trouble(errors.New(msg))
	}
}
