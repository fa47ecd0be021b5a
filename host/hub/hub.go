package hub

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/state"
	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/internal/testfault"
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
	// StateSocket is where the state server listens: a path in a
	// directory only this user may enter. Empty: in a directory of its
	// own in the temporary directory, removed at Close.
	StateSocket string
	// Faults, for taskhost's own tests only, drop connections; the zero
	// value (production's) injects none.
	Faults testfault.Faults
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
	// Limits bound what the tasks may send; the zero value is the
	// defaults.
	Limits Limits
	// Agents, if set, opens the hub to taskhost agents on a TCP listener
	// (agentnet.go); nil keeps the hub on loopback only, for the host's
	// own tasks.
	Agents *AgentsConfig
	// External, if set, runs the hub on a NATS cluster rather than on an
	// embedded server (external.go); Agents' Listen and TLS are not used
	// then: the agents connect to the cluster.
	External *ExternalConfig
	// sendBounds, for tests: the zero value is defaultSendBounds.
	sendBounds sendBounds
}

// Hub is a running hub. Its methods are safe for concurrent use.
type Hub struct {
	log       hclog.Logger
	srv       *server.Server
	nc        *nats.Conn
	js        jetstream.JetStream
	stream    jetstream.Stream
	cc        jetstream.ConsumeContext
	ccMu      sync.Mutex     // cc, while watchReading may replace it
	watch     sync.WaitGroup // watchReading
	kv        jetstream.KeyValue
	state     *state.Server
	store     storeWatch
	stop      chan struct{}
	closeOnce sync.Once
	auth      *authenticator
	runKey    string // random token that scopes this run's subjects
	url       string // where the host's own tasks connect
	agents    *agentNet
	// On a cluster (Config.External): its config, the callout service's
	// connections, and the stream's name and replicas. streamName is
	// the embedded server's "EVENTS" otherwise.
	external   *ExternalConfig
	callout    []*nats.Conn
	streamName string
	replicas   int

	dropEvery int
	drops     int // connections dropped for tests
	onEvent   func(taskID string, ev report.Event)
	limits    Limits
	bounds    sendBounds

	mu        sync.Mutex
	ledger    ledger
	spillDir  string        // where the ledger's trees spill (ledger.spool)
	processed uint64        // stream sequence of the last message read
	changed   chan struct{} // closed and replaced when anything is read
}

type taskRec struct {
	id      string
	logDir  string // its log files' directory, relative to the run directory
	tree    *report.Tree
	read    int   // events read, duplicates included
	bytes   int64 // bytes of the messages read
	logged  int   // refusals logged in job.log
	sealed  bool  // its attempt ended: nothing more is taken
	late    int   // messages read after the seal
	dropped int   // times its connections were dropped for tests
	token   string
	// stopped is set when it went over a limit (as the ledger read it, or
	// as the hub saw it send), and stops cancel the contexts of Watch.
	stopped    bool
	stopReason string
	stops      []func(reason string)
}

// logRefusals is how many refusals of one task attempt job.log shows one
// by one; the rest are counted at the attempt's end.
const logRefusals = 20

// ErrUnknownTask is returned for a task id the hub was not told of.
var ErrUnknownTask = errors.New("task not registered with the hub")

const streamName = "EVENTS"

// What the hub holds in the host's memory for what the tasks send, each
// bounded whatever the tasks do (see also limits.go).
const (
	// readAheadBytes bounds the messages the host's reader holds ahead
	// (and the server holds for it).
	readAheadBytes = 2 << 20
	// ingestBytes and ingestMsgs bound the messages the stream holds
	// before it stores them: past them, it refuses a message (answering
	// 429 Too Many Requests, which the SDK sends again).
	ingestBytes = 4 << 20
	ingestMsgs  = 10_000
	// maxPending bounds what the server holds for a connection that it
	// has not read: past it, the server closes the connection (a slow
	// consumer). The SDK's connections are sent only the answers to
	// their batches, at most 128 at a time; the host's, what its reader
	// asks for (readAheadBytes).
	maxPending = 8 << 20
	// errCodeTooManyRequests is JetStream's answer to a message the
	// stream dropped, its ingest queue full (JSStreamTooManyRequests).
	errCodeTooManyRequests jetstream.ErrorCode = 10167
	// bucketRoom is disk space left beside the stream for the state's
	// bucket.
	bucketRoom = 64 << 20
)

// Start starts an embedded NATS server with JetStream on a random loopback
// port (or, with cfg.Agents, where it says), and the run's event stream in
// cfg.StoreDir.
func Start(cfg Config) (*Hub, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	h := &Hub{
		log: log,
		auth: &authenticator{users: map[string]*server.User{}, tasks: map[string]string{}, clients: map[string][]uint64{},
			all: map[string][]uint64{}},
		dropEvery:  cfg.Faults.DropEvery,
		onEvent:    cfg.OnEvent,
		stop:       make(chan struct{}),
		runKey:     randomHex(6),
		ledger:     ledger{tasks: map[string]*taskRec{}, mask: cfg.Mask, spool: fileSpool(filepath.Join(cfg.StoreDir, spillDir))},
		spillDir:   filepath.Join(cfg.StoreDir, spillDir),
		changed:    make(chan struct{}),
		limits:     cfg.Limits.withDefaults(),
		bounds:     cmp.Or(cfg.sendBounds, defaultSendBounds),
		streamName: streamName,
	}
	h.store.init()
	if err := cfg.Limits.Check(); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	h.ledger.onOver = h.overLimit
	if cfg.External != nil {
		if err := h.startExternal(cfg); err != nil {
			return nil, err
		}
	} else if err := h.startEmbedded(cfg); err != nil {
		return nil, err
	}
	var err error
	if h.js, err = jetstream.New(h.nc); err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The stream refuses a message that would take it over the run's
	// limit, or over the largest a batch can be.
	if h.srv != nil {
		if free := h.srv.JetStreamConfig().MaxStore - bucketRoom; free < h.limits.RunBytes {
			log.Warn("the run's stream is limited by the free disk space", "max_run_bytes", h.limits.RunBytes, "bytes", free)
			h.limits.RunBytes = max(free, minLimit)
		}
	}
	h.stream, err = h.js.CreateStream(ctx, jetstream.StreamConfig{
		Name:       h.streamName,
		Replicas:   h.replicas,
		Subjects:   []string{h.subjectPrefix() + ">", h.noteSubject()},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
		MaxBytes:   h.limits.RunBytes,
		MaxMsgSize: messageBytes,
		Discard:    jetstream.DiscardNew,
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: create the event stream: %w", err)
	}
	// The limits are the stream's first message, so that Replay holds the
	// tasks to the same ones.
	if err := h.Note(ctx, Note{Kind: noteLimits, Data: mustJSON(limitsNote{Limits: h.limits, MessageBytes: MessageBytes})}); err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: store the run's limits: %w", err)
	}
	// The state lives in the host's memory (the state server); the bucket
	// is its record in the run directory, each key's latest value.
	h.kv, err = h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:       statekv.Bucket(h.runKey),
		History:      1,
		Storage:      jetstream.FileStorage,
		MaxValueSize: 1 << 20,
		Replicas:     h.replicas,
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: create the state bucket: %w", err)
	}
	h.state, err = state.Start(state.Config{
		Socket:    cfg.StateSocket,
		Check:     h.auth.taskOf,
		Bucket:    &stateBucket{h: h, log: log.Named("state")},
		Logger:    log.Named("state"),
		MaxBytes:  h.limits.StateBytes,
		DropEvery: cfg.Faults.DropEvery,
	})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	if cfg.Faults.DropInterval > 0 {
		go h.dropLoop(cfg.Faults.DropInterval)
	}
	if h.srv != nil {
		// On a cluster, the hub cannot see the tasks' connections: the
		// ledger's limits hold (what the tasks' events bring), and the
		// nodes' own bounds (max_pending, slow consumers) those of the
		// connections.
		go h.watchSends()
	}
	cons, err := h.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: event consumer: %w", err)
	}
	// What the host holds of messages read ahead is bounded in bytes,
	// whatever size the tasks' messages are.
	h.cc, err = cons.Consume(h.read, h.consumeOpts()...)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("hub: consume events: %w", err)
	}
	if h.external != nil {
		h.watch.Add(1)
		go h.watchReading()
	}
	if h.srv != nil {
		// A cluster's nodes' disks are the cluster's business: the hub
		// watches the store it embeds only.
		h.watchStore(cfg)
	}
	if h.agents != nil {
		if _, err := h.answerHellos(); err != nil {
			h.Close()
			return nil, fmt.Errorf("hub: answer the agents' hellos: %w", err)
		}
		if err := h.nc.Flush(); err != nil {
			h.Close()
			return nil, fmt.Errorf("hub: answer the agents' hellos: %w", err)
		}
		if h.srv != nil {
			go h.watchAgents()
		}
	}
	return h, nil
}

// startEmbedded starts the embedded server and the host's connection to
// it.
func (h *Hub) startEmbedded(cfg Config) error {
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
		// What the stream holds before it stores it is in the host's
		// memory: a task that floods the hub has its messages dropped
		// past this (the SDK sends them again), rather than grow it.
		StreamMaxBufferedSize: ingestBytes,
		StreamMaxBufferedMsgs: ingestMsgs,
		MaxPending:            maxPending,
		// The server keeps what it knows of closed connections for its
		// monitoring (Connz), 10,000 by default: every task's, some 1 KB
		// each, which nobody here reads.
		MaxClosedClients: 16,
	}
	localHost := ""
	if cfg.Agents != nil {
		host, port, lh, err := listenAddr(cfg.Agents.Listen)
		if err != nil {
			return fmt.Errorf("hub: agents: %w", err)
		}
		if h.agents, err = newAgentNet(*cfg.Agents, h.log.Named("agents"), h.agentUser, false); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		h.auth.agentNet = h.agents
		localHost = lh
		// One listener: TLS for every client not on loopback, which the
		// authenticator makes sure of (AllowNonTLS lets the local ones in
		// plain); the nonce is what agents sign with their keys.
		opts.Host, opts.Port = host, port
		if port > 0 { // not server.RANDOM_PORT
			// The server says only that it did not start when its port
			// is taken: say which port, and by what error.
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("hub: agents: %w", err)
			}
			l.Close()
		}
		opts.TLS, opts.TLSConfig, opts.AllowNonTLS = true, cfg.Agents.TLS, true
		opts.AlwaysEnableNonce = true
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	// The server's own messages go to the hub's log; those that say its
	// store cannot write also wake the store's watch.
	srv.SetLoggerV2(natsLogger{log: h.log.Named("nats"), trouble: h.storeTrouble}, false, false, false)
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return fmt.Errorf("hub: the embedded NATS server did not start within 10s")
	}
	h.srv = srv
	h.url = srv.ClientURL()
	if h.agents != nil {
		addr, ok := srv.Addr().(*net.TCPAddr)
		if !ok {
			srv.Shutdown()
			return fmt.Errorf("hub: the embedded NATS server has no TCP listener")
		}
		h.url = "nats://" + net.JoinHostPort(localHost, strconv.Itoa(addr.Port))
	}
	h.nc, err = nats.Connect("", nats.InProcessServer(srv), nats.Token(hostToken), nats.Name("taskhost host"))
	if err != nil {
		srv.Shutdown()
		return fmt.Errorf("hub: host connection: %w", err)
	}
	return nil
}

// URL is where the host's task processes connect: on loopback, in plain;
// on a cluster, its nodes' URLs (comma-separated).
func (h *Hub) URL() string { return h.url }

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

// AddTask registers an attempt of a task, in hub slot index, and returns
// the credentials and subjects that its processes use. Each call makes a
// new token; the token may publish only the attempt's own events and read
// only its own replies, until Seal revokes it. logDir is the attempt's
// directory in the run directory ("tasks/<id>"): the log files its events
// name must be there ("" allows any task's directory).
func (h *Hub) AddTask(taskID string, index int, logDir string) attempt.HubAccess {
	tok := fmt.Sprintf("t%d", index)
	subject := h.subjectPrefix() + tok
	inbox := "_th." + h.runKey + "." + tok
	token := randomHex(24)
	// The slot's note comes before anything the task can send, so that
	// the ledger (live, and Replay) knows the slot's directory first.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := h.Note(ctx, Note{Kind: noteSlot, Task: taskID, Slot: index, Data: mustJSON(slotNote{LogDir: logDir})})
	cancel()
	if err != nil {
		h.log.Warn("the task's slot not noted; its log files are checked against any task's directory", "task", taskID, "slot", index, "error", err)
	}
	h.auth.add(token, taskID, &server.User{
		Username: "task " + taskID,
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{subject}},
			Subscribe: &server.SubjectPermission{Allow: []string{inbox + ".>"}},
		},
	})
	h.mu.Lock()
	rec := h.ledger.task(tok)
	rec.id, rec.token = taskID, token
	if h.onEvent != nil {
		rec.tree.OnApply = func(ev report.Event) { h.onEvent(taskID, ev) }
	}
	h.mu.Unlock()
	ca := ""
	if h.external != nil {
		ca = h.external.CA
	}
	return attempt.HubAccess{
		CA:            ca,
		URL:           h.URL(),
		Token:         token,
		EventsSubject: subject,
		InboxPrefix:   inbox,
		// A secret part, so that another task cannot publish under this
		// task's message ids and have the hub drop its events as duplicates.
		MsgIDPrefix: tok + "." + randomHex(6) + ".",
		StateSocket: h.state.Socket(),
		Slot:        index,
	}
}

// read applies one message from the stream: a note, or an event to its
// task's tree.
func (h *Hub) read(m jetstream.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var stored time.Time
	if md, err := m.Metadata(); err == nil {
		if md.Sequence.Stream <= h.processed {
			// Read already: the reading started again from the
			// message after the last one read (watchReading), and
			// the consumer it replaced may still deliver.
			return
		}
		h.processed = md.Sequence.Stream
		stored = md.Timestamp
	}
	close(h.changed)
	h.changed = make(chan struct{})
	rec, err := h.ledger.apply(m.Subject(), m.Data(), stored)
	switch {
	case rec == nil && err != nil:
		h.log.Warn("bad message in the run's stream", "subject", m.Subject(), "error", err)
	case err == errSealed:
		if rec.late == 1 {
			h.log.Warn("refused what the task sent after its attempt ended", "task", rec.id)
		}
	case err != nil && rec.logged < logRefusals:
		rec.logged++
		h.log.Warn("refused what the task sent", "task", rec.id, "problem", err)
		if rec.logged == logRefusals {
			h.log.Warn("the task's further refusals are counted, not shown", "task", rec.id)
		}
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
		go h.disconnect(ids)
	}
}

// revoke makes a token worthless: the hub and the state server forget
// it, and close the connections that used it.
func (h *Hub) revoke(token string) {
	task, isTask, ids := h.auth.remove(token)
	h.disconnect(ids)
	if isTask {
		h.state.CloseTask(task)
	}
}

// Seal ends the attempt in slot index: its token is revoked (the hub and
// the state server forget it and close its connections), and a note in
// the stream seals the slot; once the hub has read the note back, Seal
// returns. The ledger takes nothing of the slot's after the note, live
// and in Replay alike, and at the note it settles the slot's tree and
// closes its open steps as c says: so the record that Tree then gives is
// the one Replay rebuilds. If the note cannot be stored or read back in
// time, the slot is sealed where the hub has read to, and the error says
// so: a Replay may then take events that came later.
func (h *Hub) Seal(ctx context.Context, index int, c Close) error {
	tok := fmt.Sprintf("t%d", index)
	h.mu.Lock()
	rec := h.ledger.task(tok)
	token, id := rec.token, rec.id // the ledger writes them as it reads the slot's note
	rec.stops = nil
	// A task the hub stopped as it sent (watchSends) may end before the
	// note that says why is stored: it is stored again before the seal,
	// so that the record (live and replayed) has it.
	var over string
	if rec.stopped && rec.tree.Over == "" {
		over = rec.stopReason
	}
	h.mu.Unlock()
	if token != "" {
		h.revoke(token)
	}
	var err error
	if over != "" {
		err = h.Note(ctx, Note{Kind: noteOver, Task: id, Slot: index, Data: mustJSON(over)})
	}
	if err == nil {
		err = h.Note(ctx, Note{Kind: noteSeal, Task: id, Slot: index, Data: mustJSON(c)})
	}
	if err == nil {
		err = h.wait(ctx, func() bool { return rec.sealed })
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !rec.sealed {
		if over != "" && rec.tree.Over == "" {
			h.ledger.over(rec, over)
		}
		rec.seal(c)
	}
	if rec.late > 0 || rec.logged >= logRefusals {
		h.log.Warn("what the host refused of the task", "task", rec.id, "refused", rec.tree.Refused, "after_end", rec.late)
	}
	if err != nil {
		return fmt.Errorf("hub: the seal of task %s's record not stored: %w", rec.id, err)
	}
	return nil
}

// Drops is how many connections the hub dropped because of Config.Faults.
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

// WaitTask waits until the task's events up to seq have been applied. It
// returns an error at once if the task went over its limits: its events
// are no longer taken.
func (h *Hub) WaitTask(ctx context.Context, taskIndex int, seq uint64) error {
	tok := fmt.Sprintf("t%d", taskIndex)
	var over string
	err := h.wait(ctx, func() bool {
		rec := h.ledger.tasks[tok]
		if rec != nil && rec.stopped {
			over = rec.stopReason
		}
		return rec != nil && (rec.tree.Applied("") >= seq || over != "")
	})
	if err == nil && over != "" {
		return errors.New(over)
	}
	return err
}

// WaitEnded waits until the task's end event has been applied, or the
// task can no longer report it (it went over its limits).
func (h *Hub) WaitEnded(ctx context.Context, taskIndex int) error {
	tok := fmt.Sprintf("t%d", taskIndex)
	return h.wait(ctx, func() bool {
		rec := h.ledger.tasks[tok]
		return rec != nil && (rec.tree.Ended || rec.stopped)
	})
}

// Drain waits until every event the hub has stored so far has been read.
func (h *Hub) Drain(ctx context.Context) error {
	ctx, cancel := bounded(ctx, time.Minute)
	defer cancel()
	var info *jetstream.StreamInfo
	err := apiRetry(ctx, h.apiWait(), func(ctx context.Context) (err error) {
		info, err = h.stream.Info(ctx)
		return err
	})
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
		n := h.state.DropAll()
		h.log.Warn("test fault: dropping every task connection", "connections", len(ids), "state_connections", n)
		h.disconnect(ids)
	}
}

// SeedState sets initial values of the run's shared state (JSON each).
// They are in the bucket when it returns.
func (h *Hub) SeedState(_ context.Context, values map[string]json.RawMessage) error {
	if err := h.state.Seed(values); err != nil {
		return err
	}
	h.state.Flush()
	return nil
}

// EndTask tells the hub that an attempt of the task ended, and its
// processes with it: the state's changes since the last write to the
// bucket are written now (rather than within a few milliseconds), and
// what the state server kept to answer the task's writes sent again is
// let go.
func (h *Hub) EndTask(taskID string) {
	h.state.EndTask(taskID)
	h.state.Flush()
}

// State returns the run's shared state as it is now (the store's own keys
// left out), each value as JSON. The values are shared with the hub:
// change none in place.
func (h *Hub) State(context.Context) (map[string]json.RawMessage, error) {
	return h.state.Snapshot(), nil
}

// StateSocket is the state server's socket.
func (h *Hub) StateSocket() string { return h.state.Socket() }

// Close stops the hub. The stored events stay in StoreDir. Calling it
// again does nothing.
func (h *Hub) Close() { h.closeOnce.Do(h.close) }

func (h *Hub) close() {
	close(h.stop)
	h.store.wg.Wait() // it starts and stops the reading, below
	h.watch.Wait()    // it too
	h.mu.Lock()
	for _, rec := range h.ledger.tasks {
		if s, ok := rec.tree.Spill.(*report.FileSpool); ok {
			_ = s.Remove()
		}
	}
	h.mu.Unlock()
	_ = os.Remove(h.spillDir)
	if h.state != nil {
		h.state.Close() // writes the last changes to the bucket
	}
	h.ccMu.Lock()
	if h.cc != nil {
		h.cc.Stop()
	}
	h.ccMu.Unlock()
	if h.nc != nil {
		h.nc.Close()
	}
	h.closeCallout()
	if h.srv != nil {
		h.srv.Shutdown()
		h.srv.WaitForShutdown()
	}
}

// authenticator maps each token to the user it stands for, and remembers
// which connections used it.
type authenticator struct {
	mu    sync.RWMutex
	users map[string]*server.User
	// tasks names the task of each task token, which the state server
	// admits too (taskOf).
	tasks   map[string]string
	clients map[string][]uint64
	// all holds every connection a task's token opened, which the test
	// faults' drops do not forget: what they sent counts.
	// Those in all that are still open, or closed so lately that
	// watchSends has not yet made sure, count against maxTaskConns: a
	// count taken from the server's list of connections would miss one
	// let in while the list was taken, and let a task past the bound.
	all map[string][]uint64
	// agents maps each agent's token to its user (agents.go); nil until
	// the first AddAgent.
	agents map[string]*server.User
	// agentNet admits agents by their nkeys, and only clients on loopback
	// without TLS; nil without Config.Agents.
	agentNet *agentNet
}

// looked records which of token's connections the hub saw closed (they
// are forgotten, and no longer count against maxTaskConns).
func (a *authenticator) looked(token string, closed []uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.users[token]; !ok {
		return
	}
	if len(closed) > 0 {
		gone := func(id uint64) bool { return slices.Contains(closed, id) }
		a.all[token] = slices.DeleteFunc(a.all[token], gone)
		a.clients[token] = slices.DeleteFunc(a.clients[token], gone)
	}
}

// seen returns, for each task token not revoked, the connections it
// opened.
func (a *authenticator) seen() map[string][]uint64 {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make(map[string][]uint64, len(a.all))
	for token, ids := range a.all {
		out[token] = slices.Clone(ids)
	}
	return out
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

// remove forgets token, and returns its task (isTask: it is a task's)
// and the connections that used it.
func (a *authenticator) remove(token string) (task string, isTask bool, ids []uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	task, isTask = a.tasks[token]
	ids = a.clients[token]
	delete(a.users, token)
	delete(a.tasks, token)
	delete(a.clients, token)
	delete(a.all, token)
	return task, isTask, ids
}

// add makes token good for task, as user u.
func (a *authenticator) add(token, task string, u *server.User) {
	a.mu.Lock()
	a.users[token] = u
	a.tasks[token] = task
	a.mu.Unlock()
}

// taskOf tells which task token stands for, while it is good.
func (a *authenticator) taskOf(token string) (task string, ok bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	task, ok = a.tasks[token]
	return task, ok
}

// Check lets a client in only with a token the hub made, and a task's
// only while it holds fewer than maxTaskConns connections; with agents
// (agentNet), an agent with its listed nkey, and only over TLS if it is
// not on loopback.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	if a.agentNet != nil {
		if c.GetTLSConnectionState() == nil && !local(c.RemoteAddress()) {
			a.agentNet.log.Warn("refused a client that did not use TLS from a non-loopback address", "remote", c.RemoteAddress())
			return false
		}
		if c.GetOpts().Nkey != "" {
			u := a.agentNet.admit(c)
			if u == nil {
				return false
			}
			c.RegisterUser(u)
			return true
		}
	}
	token := c.GetOpts().Token
	a.mu.Lock()
	u := a.users[token]
	if u != nil && u.Permissions != nil && len(a.all[token]) >= maxTaskConns {
		u = nil
	}
	agent := a.agents[token]
	if u == nil && agent != nil {
		u = agent
	}
	if u != nil {
		a.clients[token] = append(a.clients[token], c.GetID())
		if u.Permissions != nil && agent == nil {
			a.all[token] = append(a.all[token], c.GetID())
		}
	}
	a.mu.Unlock()
	if u == nil {
		return false
	}
	c.RegisterUser(u)
	return true
}

// mustJSON encodes the hub's own values, which always encode.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
