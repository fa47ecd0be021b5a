package logship

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agentwire"
)

// SinkConfig configures a Sink. Zero values of the optional fields are
// fine.
type SinkConfig struct {
	// Conn is the host's connection to the run's hub (hub.Conn);
	// required.
	Conn *nats.Conn
	// RunKey is the run's key (hub.RunKey); required.
	RunKey string
	// RunDir is the run directory, which the attempts' directories are
	// in; required.
	RunDir string
	// Replicas is how many nodes of the hub's cluster hold the log
	// stream; 0 is 1.
	Replicas int
	// MaxBytes bounds the log stream; 0 is 8 GiB. Past it, the stream
	// refuses chunks (the shippers send them again).
	MaxBytes int64
	// Logger gets the sink's messages (refused chunks); nil discards
	// them.
	Logger hclog.Logger
}

// Sink writes the chunks of the run's log stream into the run
// directory. Its methods are safe for concurrent use.
type Sink struct {
	cfg    SinkConfig
	names  agentwire.Names
	log    hclog.Logger
	stream jetstream.Stream
	cc     jetstream.ConsumeContext

	mu        sync.Mutex
	slots     map[int]*slot
	refused   int
	processed uint64        // stream sequence of the last chunk taken
	changed   chan struct{} // closed and replaced when a chunk is taken
	closed    bool
}

// slot is an attempt whose logs an agent ships.
type slot struct {
	agent string
	dir   string // relative to the run directory
	root  *os.Root
	perm  os.FileMode
	files map[string]*os.File
}

// logRefusals is how many refused chunks the sink logs one by one.
const logRefusals = 20

// NewSink makes the run's log stream (or takes it as it is), and writes
// its chunks, from the first, until Close.
func NewSink(ctx context.Context, cfg SinkConfig) (*Sink, error) {
	if cfg.Conn == nil || cfg.RunKey == "" || cfg.RunDir == "" {
		return nil, errors.New("logship: Conn, RunKey and RunDir are required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 8 << 30
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Sink{cfg: cfg, names: agentwire.Names{RunKey: cfg.RunKey}, log: log, slots: map[int]*slot{}, changed: make(chan struct{})}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("logship: %w", err)
	}
	s.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       s.names.LogStream(),
		Replicas:   cfg.Replicas,
		Subjects:   []string{s.names.LogAll()},
		Storage:    jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
		MaxBytes:   cfg.MaxBytes,
		// A chunk, its headers and its message id.
		MaxMsgSize: MaxChunk + 4<<10,
		Discard:    jetstream.DiscardNew,
	})
	if err != nil {
		return nil, fmt.Errorf("logship: make the log stream: %w", err)
	}
	cons, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, fmt.Errorf("logship: log consumer: %w", err)
	}
	if s.cc, err = cons.Consume(s.take, jetstream.PullMaxBytes(4*MaxChunk)); err != nil {
		return nil, fmt.Errorf("logship: consume logs: %w", err)
	}
	return s, nil
}

// Allow tells the sink that agent ships the logs of hub slot n, into
// dir (relative to the run directory, "tasks/<id>"), which it makes if
// need be. Chunks of a slot it was not told of, or from another agent,
// are refused.
func (s *Sink) Allow(agent string, n int, dir string) error {
	if !filepath.IsLocal(dir) {
		return fmt.Errorf("logship: slot %d: %q is not a directory in the run directory", n, dir)
	}
	full := filepath.Join(s.cfg.RunDir, dir)
	if err := os.MkdirAll(full, 0o755); err != nil {
		return fmt.Errorf("logship: slot %d: %w", n, err)
	}
	root, err := os.OpenRoot(full)
	if err != nil {
		return fmt.Errorf("logship: slot %d: %w", n, err)
	}
	perm := os.FileMode(0o600)
	if st, err := root.Stat("."); err == nil {
		perm = st.Mode().Perm() & 0o666
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots[n] != nil || s.closed {
		root.Close()
		return fmt.Errorf("logship: slot %d allowed already", n)
	}
	s.slots[n] = &slot{agent: agent, dir: dir, root: root, perm: perm, files: map[string]*os.File{}}
	return nil
}

// End closes slot n's files; chunks of it that come later are refused.
func (s *Sink) End(n int) {
	s.mu.Lock()
	sl := s.slots[n]
	delete(s.slots, n)
	s.mu.Unlock()
	if sl != nil {
		sl.close()
	}
}

func (sl *slot) close() {
	for _, f := range sl.files {
		f.Close()
	}
	sl.root.Close()
}

// Refused is how many chunks the sink refused.
func (s *Sink) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Sync returns once every chunk the stream held when it was called has
// been written (or refused), or ctx ended.
func (s *Sink) Sync(ctx context.Context) error {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("logship: %w", err)
	}
	last := info.State.LastSeq
	for {
		s.mu.Lock()
		done, changed := s.processed >= last, s.changed
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("logship: chunks not all written: %w", context.Cause(ctx))
		}
	}
}

// Await returns once slot n's files reach the ends given (where the
// agent says each is acknowledged): every chunk the stream held when it
// was called has been written, and each file is at least that long. It
// fails if ctx ends first, or a file is shorter (its chunks were
// refused). The slot must be allowed and not ended.
func (s *Sink) Await(ctx context.Context, n int, ends map[string]int64) error {
	if err := s.Sync(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sl := s.slots[n]
	if sl == nil {
		return fmt.Errorf("logship: slot %d is not allowed", n)
	}
	var short []string
	for name, end := range ends {
		if CheckName(name) != nil || end <= 0 {
			continue // nothing to have (a bad name's chunks are all refused)
		}
		var size int64
		if st, err := sl.root.Stat(name); err == nil {
			size = st.Size()
		}
		if size < end {
			short = append(short, fmt.Sprintf("%s has %d of %d bytes", filepath.Join(sl.dir, name), size, end))
		}
	}
	if len(short) > 0 {
		sort.Strings(short)
		return fmt.Errorf("logship: slot %d: %s", n, strings.Join(short, "; "))
	}
	return nil
}

// Close stops reading the stream and closes every file.
func (s *Sink) Close() {
	s.cc.Stop()
	s.mu.Lock()
	slots := s.slots
	s.slots, s.closed = map[int]*slot{}, true
	s.mu.Unlock()
	for _, sl := range slots {
		sl.close()
	}
}

// take writes a chunk at its offset, or refuses it.
func (s *Sink) take(m jetstream.Msg) {
	var seq uint64
	if meta, err := m.Metadata(); err == nil {
		seq = meta.Sequence.Stream
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.processed {
		s.processed = seq
	}
	close(s.changed)
	s.changed = make(chan struct{})
	if err := s.write(m); err != nil {
		s.refused++
		if s.refused <= logRefusals {
			s.log.Warn("log chunk refused", "subject", m.Subject(), "error", err)
		}
	}
}

func (s *Sink) write(m jetstream.Msg) error {
	agent, n, ok := s.names.LogOf(m.Subject())
	if !ok {
		return errors.New("not a log subject")
	}
	sl := s.slots[n]
	if sl == nil || sl.agent != agent {
		return fmt.Errorf("slot %d is not run by agent %s", n, agent)
	}
	name := m.Headers().Get(agentwire.LogFileHeader)
	if err := CheckName(name); err != nil {
		return err
	}
	off, err := strconv.ParseInt(m.Headers().Get(agentwire.LogOffsetHeader), 10, 64)
	data := m.Data()
	if err != nil || off < 0 || off > maxOffset-int64(len(data)) {
		return fmt.Errorf("log file %s: bad offset %q", name, m.Headers().Get(agentwire.LogOffsetHeader))
	}
	f := sl.files[name]
	if f == nil {
		if f, err = sl.root.OpenFile(name, os.O_CREATE|os.O_WRONLY, sl.perm); err != nil {
			return err
		}
		sl.files[name] = f
	}
	if _, err := f.WriteAt(data, off); err != nil {
		return fmt.Errorf("log file %s: %w", filepath.Join(sl.dir, name), err)
	}
	return nil
}

// maxOffset bounds where in a file a chunk may be written (1 TiB).
const maxOffset = 1 << 40
