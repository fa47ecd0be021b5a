package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/statekv"
)

// Config configures a hub. The zero value of each optional field is fine.
type Config struct {
	// StoreDir is where JetStream keeps the run's events (the run
	// directory's hub/); required.
	StoreDir string
	// Logger gets the hub's own messages; nil discards them.
	Logger hclog.Logger
	// OnEvent, if set, is called with each task's events as they are
	// applied to its tree (once each, in order), on the hub's reading
	// goroutine; it must not call the hub.
	OnEvent func(taskID string, ev report.Event)
	// DropInterval, for tests of reconnection only: every DropInterval
	// the hub disconnects every task connection. 0 (the default) never.
	DropInterval time.Duration
	// StateSocket is where the state server listens: a path in a
	// directory only this user may enter. Empty: in a directory of its
	// own in the temporary directory, removed at Close.
	StateSocket string
	// DropEvery, for tests of reconnection only: after every DropEvery
	// events of a task, the hub disconnects that task's connections; and
	// after every DropEvery requests to the state server, the server
	// disconnects every task's, the one that made the request before its
	// answer.
	// 0 (the default) never does.
	DropEvery int
	// Mask, if set, hides sensitive values in every event as it is taken
	// in, before anything else sees it (mask.go).
	Mask *mask.Masker
	// OnStore, if set, is called when the run's store stops writing (the
	// disk is full), when it gives up waiting for it (after StoreWait),
	// and when it writes again; see store.go.
	OnStore func(StoreEvent)
	// StoreWait is how long the store may not write before the hub gives
	// up on it; 0 means DefaultStoreWait.
	StoreWait time.Duration
}

// Hub is a running hub. Its methods are safe for concurrent use.
type Hub struct {
	log    hclog.Logger
	srv    *server.Server
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	cc     jetstream.ConsumeContext
	kv     jetstream.KeyValue
	state  *stateServer
	store  storeWatch
	stop   chan struct{}
	auth   *authenticator
	runKey string // random token that scopes this run's subjects

	dropEvery int
	drops     int // connections dropped for tests
	onEvent   func(taskID string, ev report.Event)

	mu        sync.Mutex
	ledger    ledger
	processed uint64        // stream sequence of the last message read
	changed   chan struct{} // closed and replaced when anything is read
}

type taskRec struct {
	id      string
	tree    *report.Tree
	bad     int // events that did not apply
	read    int // events read, duplicates included
	dropped int // times its connections were dropped for tests
	token   string
}

// ErrUnknownTask is returned for a task id the hub was not told of.
var ErrUnknownTask = errors.New("task not registered with the hub")

const streamName = "EVENTS"

// Start starts an embedded NATS server with JetStream on a random loopback
// port, and the run's event stream in cfg.StoreDir.
func Start(cfg Config) (*Hub, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	h := &Hub{
		log:       log,
		auth:      &authenticator{users: map[string]*server.User{}, clients: map[string][]uint64{}},
		dropEvery: cfg.DropEvery,
		onEvent:   cfg.OnEvent,
		stop:      make(chan struct{}),
		runKey:    randomHex(6),
		ledger:    ledger{tasks: map[string]*taskRec{}, mask: cfg.Mask},
		changed:   make(chan struct{}),
	}
	h.store.init()
	hostToken := randomHex(24)
	h.auth.users[hostToken] = &server.User{Username: "host"} // no permissions: may do anything

	opts := &server.Options{
		ServerName:                 "taskhost-hub",
		Host:                       "127.0.0.1",
		Port:                       server.RANDOM_PORT,
		JetStream:                  true,
		StoreDir:                   cfg.StoreDir,
		JetStreamMaxStore:          maxStore,
		NoLog:                      true,
		NoSigs:                     true,
		CustomClientAuthentication: h.auth,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	// The server's own messages go to the hub's log; those that say its
	// store cannot write also wake the store's watch.
	srv.SetLoggerV2(natsLogger{log: log.Named("nats"), trouble: h.storeTrouble}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("hub: the embedded NATS server did not start within 10s")
	}
	h.srv = srv
	h.nc, err = nats.Connect("", nats.InProcessServer(srv), nats.Token(hostToken), nats.Name("taskhost host"))
	if err != nil {
		srv.Shutdown()
		return nil, fmt.Errorf("hub: host connection: %w", err)
	}
	if h.js, err = jetstream.New(h.nc); err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.stream, err = h.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       streamName,
		Subjects:   []string{h.subjectPrefix() + ">", h.noteSubject()},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: create the event stream: %w", err)
	}
	// The state lives in the host's memory (the state server); the bucket
	// is its record in the run directory, each key's latest value.
	h.kv, err = h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       statekv.Bucket(h.runKey),
		History:      1,
		Storage:      jetstream.FileStorage,
		MaxValueSize: 1 << 20,
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: create the state bucket: %w", err)
	}
	if h.state, err = startState(cfg.StateSocket, h.kv, log.Named("state"), cfg.DropEvery); err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	h.state.storeGen, h.state.trouble = h.storeGen, h.troubleAt
	if cfg.DropInterval > 0 {
		go h.dropLoop(cfg.DropInterval)
	}
	cons, err := h.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: event consumer: %w", err)
	}
	h.cc, err = cons.Consume(h.read)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: consume events: %w", err)
	}
	h.watchStore(cfg)
	return h, nil
}

// URL is where task processes connect.
func (h *Hub) URL() string { return h.srv.ClientURL() }

func (h *Hub) subjectPrefix() string { return "th." + h.runKey + ".ev." }

func (h *Hub) noteSubject() string { return "th." + h.runKey + ".note" }

// Note is a record that the host keeps in the run's stream beside the
// tasks' events (the job and its tasks, when each task started and
// ended), so that the run can be rebuilt from the stream alone after the
// host died. Data is the host's to define.
type Note struct {
	Kind  string `json:"kind"`
	Task  string `json:"task,omitempty"`
	Index int    `json:"index,omitempty"`
	// Slot is the hub slot (AddTask's index) the task's attempt reports in.
	Slot int             `json:"slot,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Note stores n in the run's stream, and returns once it is stored (within
// 10 s if ctx has no deadline). While the store cannot write, it holds n
// until it can and returns ErrStoreFailing at once.
func (h *Hub) Note(ctx context.Context, n Note) error {
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return h.publishNote(ctx, b)
}

// AddTask registers a task and returns the credentials and subjects that
// its process uses. Each call makes a new token; the token may publish
// only the task's own events and read only its own replies.
func (h *Hub) AddTask(taskID string, index int) *packv1.Hub {
	tok := fmt.Sprintf("t%d", index)
	subject := h.subjectPrefix() + tok
	inbox := "_th." + h.runKey + "." + tok
	token := randomHex(24)
	h.auth.add(token, &server.User{
		Username: "task " + taskID,
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{subject}},
			Subscribe: &server.SubjectPermission{Allow: []string{inbox + ".>"}},
		},
	})
	h.state.addToken(token, taskID)
	h.mu.Lock()
	rec := h.ledger.task(tok)
	rec.id, rec.token = taskID, token
	if h.onEvent != nil {
		rec.tree.OnApply = func(ev report.Event) { h.onEvent(taskID, ev) }
	}
	h.mu.Unlock()
	return &packv1.Hub{
		Url:           h.URL(),
		Token:         token,
		EventsSubject: subject,
		InboxPrefix:   inbox,
		// A secret part, so that another task cannot publish under this
		// task's message ids and have the hub drop its events as duplicates.
		MsgIdPrefix: tok + "." + randomHex(6) + ".",
		StateSocket: h.state.path,
	}
}

// read applies one message from the stream: a note, or an event to its
// task's tree.
func (h *Hub) read(m jetstream.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if md, err := m.Metadata(); err == nil {
		h.processed = md.Sequence.Stream
	}
	close(h.changed)
	h.changed = make(chan struct{})
	rec, err := h.ledger.apply(m.Subject(), m.Data())
	if err != nil {
		h.log.Warn("bad message in the run's stream", "subject", m.Subject(), "error", err)
	}
	if rec == nil {
		return
	}
	if h.dropEvery > 0 && rec.read/h.dropEvery > rec.dropped && len(h.auth.clientsOf(rec.token)) > 0 {
		// (While the task is reconnecting there is nothing to drop: the
		// drop waits for the next message.)
		rec.dropped = rec.read / h.dropEvery
		ids := h.auth.takeClients(rec.token)
		h.drops += len(ids)
		h.log.Warn("test fault: dropping the task's connections", "task", rec.id, "events", rec.read, "connections", len(ids))
		go func() {
			for _, id := range ids {
				_ = h.srv.DisconnectClientByID(id)
			}
		}()
	}
}

// Drops is how many connections the hub dropped because of DropEvery.
func (h *Hub) Drops() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.drops
}

// wait calls done under the hub's lock each time something is read, until
// it returns true or ctx ends (or a minute passes, if ctx has no deadline).
func (h *Hub) wait(ctx context.Context, done func() bool) error {
	ctx, cancel := bounded(ctx, time.Minute)
	defer cancel()
	for {
		h.mu.Lock()
		ok, ch := done(), h.changed
		h.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitTask waits until the task's events up to seq have been applied.
func (h *Hub) WaitTask(ctx context.Context, taskIndex int, seq uint64) error {
	tok := fmt.Sprintf("t%d", taskIndex)
	return h.wait(ctx, func() bool {
		rec := h.ledger.tasks[tok]
		return rec != nil && rec.tree.Applied("") >= seq
	})
}

// WaitEnded waits until the task's end event has been applied.
func (h *Hub) WaitEnded(ctx context.Context, taskIndex int) error {
	tok := fmt.Sprintf("t%d", taskIndex)
	return h.wait(ctx, func() bool {
		rec := h.ledger.tasks[tok]
		return rec != nil && rec.tree.Ended
	})
}

// Drain waits until every event the hub has stored so far has been read.
func (h *Hub) Drain(ctx context.Context) error {
	ctx, cancel := bounded(ctx, time.Minute)
	defer cancel()
	info, err := h.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("hub: stream info: %w", err)
	}
	last := info.State.LastSeq
	return h.wait(ctx, func() bool { return h.processed >= last })
}

// Tree calls fn with the task's result tree, under the hub's lock.
func (h *Hub) Tree(taskIndex int, fn func(*report.Tree)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	rec := h.ledger.tasks[fmt.Sprintf("t%d", taskIndex)]
	if rec == nil {
		return ErrUnknownTask
	}
	fn(rec.tree)
	return nil
}

// dropLoop disconnects every task connection every d (a test fault).
func (h *Hub) dropLoop(d time.Duration) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		ids := h.auth.takeAllTaskClients()
		h.mu.Lock()
		h.drops += len(ids)
		h.mu.Unlock()
		n := h.state.dropAll()
		h.log.Warn("test fault: dropping every task connection", "connections", len(ids), "state_connections", n)
		for _, id := range ids {
			_ = h.srv.DisconnectClientByID(id)
		}
	}
}

// SeedState sets initial values of the run's shared state (JSON each).
// They are in the bucket when it returns.
func (h *Hub) SeedState(_ context.Context, values map[string]json.RawMessage) error {
	if err := h.state.seed(values); err != nil {
		return err
	}
	h.state.flush()
	return nil
}

// EndTask tells the hub that an attempt of the task ended, and its
// processes with it: the state's changes since the last write to the
// bucket are written now (rather than within a few milliseconds), and
// what the state server kept to answer the task's writes sent again is
// let go.
func (h *Hub) EndTask(taskID string) {
	h.state.endTask(taskID)
	h.state.flush()
}

// State returns the run's shared state as it is now (the store's own keys
// left out), each value as JSON.
func (h *Hub) State(context.Context) (map[string]json.RawMessage, error) {
	return h.state.snapshot(), nil
}

// StateSocket is the state server's socket.
func (h *Hub) StateSocket() string { return h.state.path }

// Close stops the hub. The stored events stay in StoreDir.
func (h *Hub) Close() {
	close(h.stop)
	h.store.wg.Wait() // it starts and stops the reading, below
	if h.state != nil {
		h.state.close() // writes the last changes to the bucket
	}
	if h.cc != nil {
		h.cc.Stop()
	}
	if h.nc != nil {
		h.nc.Close()
	}
	h.srv.Shutdown()
	h.srv.WaitForShutdown()
}

// authenticator maps each token to the user it stands for, and remembers
// which connections used it.
type authenticator struct {
	mu      sync.RWMutex
	users   map[string]*server.User
	clients map[string][]uint64
}

// takeAllTaskClients returns every task connection, and forgets them.
func (a *authenticator) takeAllTaskClients() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids []uint64
	for token, cs := range a.clients {
		if u := a.users[token]; u != nil && u.Permissions != nil {
			ids = append(ids, cs...)
			delete(a.clients, token)
		}
	}
	return ids
}

// clientsOf returns the connections that used token.
func (a *authenticator) clientsOf(token string) []uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.clients[token]
}

// takeClients returns the connections that used token, and forgets them.
func (a *authenticator) takeClients(token string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := a.clients[token]
	delete(a.clients, token)
	return ids
}

func (a *authenticator) add(token string, u *server.User) {
	a.mu.Lock()
	a.users[token] = u
	a.mu.Unlock()
}

// Check lets a client in only with a token the hub made.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	token := c.GetOpts().Token
	a.mu.Lock()
	u := a.users[token]
	if u != nil {
		a.clients[token] = append(a.clients[token], c.GetID())
	}
	a.mu.Unlock()
	if u == nil {
		return false
	}
	c.RegisterUser(u)
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
