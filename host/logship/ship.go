package logship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agentwire"
)

// ShipperConfig configures a Shipper. Zero values of the optional
// fields are fine.
type ShipperConfig struct {
	// Conn is the agent's connection to the run's hub; required. The
	// shipper does not close it.
	Conn *nats.Conn
	// RunKey is the run's key, Agent the agent's name and Slot the hub
	// slot of the attempt whose logs are shipped; required.
	RunKey, Agent string
	Slot          int
	// Dir is the attempt's log directory on the agent; required.
	Dir string
	// From says where shipping each file starts: a file the agent made
	// as long as the host's copy already is (an earlier attempt's) is
	// shipped from there on. A file it does not name starts at 0.
	From map[string]int64
	// Poll is how often the directory is looked at; 0 is 250ms.
	Poll time.Duration
	// ChunkBytes bounds a chunk; 0 (or more than MaxChunk) is MaxChunk.
	ChunkBytes int
	// Window is how many chunks of a file may wait for their
	// acknowledgement at once; 0 is 8.
	Window int
	// AckWait is how long a chunk waits for its acknowledgement before
	// it is sent again; 0 is 5s.
	AckWait time.Duration
	// Logger gets the shipper's messages; nil discards them.
	Logger hclog.Logger
}

// Shipper ships the log files of one attempt (see the package's doc).
type Shipper struct {
	cfg     ShipperConfig
	subject string
	js      jetstream.JetStream
	log     hclog.Logger
	cancel  context.CancelFunc
	finish  chan finishReq
	done    chan struct{}

	// Read and written by the shipping goroutine only.
	files map[string]*tail
}

// tail is one file being shipped.
type tail struct {
	name  string
	f     *os.File
	acked int64 // the file is acknowledged up to here
}

type finishReq struct {
	ctx context.Context
	err chan error
}

// Ship starts shipping cfg.Dir's files until Finish, Stop or ctx ends.
func Ship(ctx context.Context, cfg ShipperConfig) (*Shipper, error) {
	if cfg.Conn == nil || cfg.RunKey == "" || cfg.Agent == "" || cfg.Dir == "" {
		return nil, errors.New("logship: Conn, RunKey, Agent and Dir are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.ChunkBytes <= 0 || cfg.ChunkBytes > MaxChunk {
		cfg.ChunkBytes = MaxChunk
	}
	if cfg.Window <= 0 {
		cfg.Window = 8
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 5 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	js, err := jetstream.New(cfg.Conn, jetstream.WithPublishAsyncTimeout(cfg.AckWait),
		jetstream.WithPublishAsyncMaxPending(4*cfg.Window))
	if err != nil {
		return nil, fmt.Errorf("logship: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Shipper{cfg: cfg, subject: agentwire.Names{RunKey: cfg.RunKey}.Log(cfg.Agent, cfg.Slot), js: js, log: log,
		cancel: cancel, finish: make(chan finishReq), done: make(chan struct{}), files: map[string]*tail{}}
	go s.run(ctx)
	return s, nil
}

// Finish ships every file up to where it ends now, and returns once all
// of that is acknowledged; then the shipper stops. If ctx ends first
// (or the shipper's own context did), it returns an error that says
// what is not shipped.
func (s *Shipper) Finish(ctx context.Context) error {
	req := finishReq{ctx: ctx, err: make(chan error, 1)}
	select {
	case s.finish <- req:
		return <-req.err
	case <-s.done:
		return errors.New("logship: the shipper had stopped")
	}
}

// Stop stops the shipper at once, without shipping what is left, and
// waits until it stopped.
func (s *Shipper) Stop() {
	s.cancel()
	<-s.done
}

// Acked waits until the shipper stopped (Finish or Stop), and returns
// where each file it shipped is acknowledged up to, the files of From
// included.
func (s *Shipper) Acked() map[string]int64 {
	<-s.done
	acked := make(map[string]int64, len(s.files)+len(s.cfg.From))
	for name, n := range s.cfg.From {
		acked[name] = max(n, 0)
	}
	for name, t := range s.files {
		acked[name] = t.acked
	}
	return acked
}

func (s *Shipper) run(ctx context.Context) {
	defer close(s.done)
	defer func() {
		for _, t := range s.files {
			t.f.Close()
		}
	}()
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-s.finish:
			fctx, cancel := context.WithCancel(req.ctx)
			stop := context.AfterFunc(ctx, cancel)
			req.err <- s.flush(fctx)
			stop()
			cancel()
			s.cancel()
			return
		case <-tick.C:
			ends := s.scan()
			if err := s.ship(ctx, ends); err != nil {
				s.log.Debug("logs not all shipped; sent again at the next poll", "slot", s.cfg.Slot, "error", err)
			}
		}
	}
}

// flush ships each file up to where it ends now, sending again what is
// not acknowledged, until it is all acknowledged or ctx ends.
func (s *Shipper) flush(ctx context.Context) error {
	ends := s.scan()
	for {
		err := s.ship(ctx, ends)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("logship: logs of slot %d not all shipped: %w", s.cfg.Slot, err)
		case <-time.After(s.cfg.Poll):
		}
	}
}

// scan opens the files that appeared in the directory, and returns
// where each file ends now.
func (s *Shipper) scan() map[string]int64 {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("log directory not read", "dir", s.cfg.Dir, "error", err)
	}
	for _, e := range entries {
		name := e.Name()
		if s.files[name] != nil || !e.Type().IsRegular() {
			continue // a link, a directory or a device is not a log file
		}
		if err := CheckName(name); err != nil {
			continue
		}
		f, err := os.OpenFile(s.cfg.Dir+string(os.PathSeparator)+name, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			s.log.Warn("log file not opened; not shipped", "file", name, "error", err)
			continue
		}
		s.files[name] = &tail{name: name, f: f, acked: max(s.cfg.From[name], 0)}
	}
	ends := make(map[string]int64, len(s.files))
	for name, t := range s.files {
		st, err := t.f.Stat()
		if err != nil {
			continue
		}
		ends[name] = st.Size()
	}
	return ends
}

// ship ships each file up to its end in ends; an error says a file is
// not all acknowledged.
func (s *Shipper) ship(ctx context.Context, ends map[string]int64) error {
	names := make([]string, 0, len(ends))
	for name := range ends {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := s.shipFile(ctx, s.files[name], ends[name]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// inflight is a chunk sent and not yet acknowledged.
type inflight struct {
	off int64
	n   int
	ack jetstream.PubAckFuture
}

// shipFile ships t from where it is acknowledged up to end, a window of
// chunks at a time. A chunk not acknowledged stops it: what follows is
// sent again from that chunk's offset the next time.
func (s *Shipper) shipFile(ctx context.Context, t *tail, end int64) error {
	if end < t.acked {
		s.log.Warn("log file shrank; what it gains past where it was is shipped", "file", t.name, "size", end, "shipped", t.acked)
		return nil
	}
	for t.acked < end {
		var window []inflight
		var sendErr error
		for off := t.acked; len(window) < s.cfg.Window && off < end; {
			buf := make([]byte, min(int64(s.cfg.ChunkBytes), end-off))
			n, err := t.f.ReadAt(buf, off)
			if n == 0 {
				if err != nil && err != io.EOF {
					sendErr = fmt.Errorf("read %s at %d: %w", t.name, off, err)
				}
				break
			}
			m := &nats.Msg{Subject: s.subject, Data: buf[:n], Header: nats.Header{}}
			m.Header.Set(agentwire.LogFileHeader, t.name)
			m.Header.Set(agentwire.LogOffsetHeader, strconv.FormatInt(off, 10))
			ack, err := s.js.PublishMsgAsync(m, jetstream.WithMsgID(agentwire.LogMsgID(s.cfg.Slot, t.name, off, n)))
			if err != nil {
				sendErr = fmt.Errorf("send %s at %d: %w", t.name, off, err)
				break
			}
			window = append(window, inflight{off: off, n: n, ack: ack})
			off += int64(n)
		}
		if len(window) == 0 {
			if sendErr == nil {
				return nil // the file is shorter than it was (truncated)
			}
			return sendErr
		}
		// The acknowledgements are taken in order: the file is acked up
		// to the first chunk that is not.
		for _, c := range window {
			select {
			case <-c.ack.Ok():
				t.acked = c.off + int64(c.n)
			case err := <-c.ack.Err():
				return fmt.Errorf("%s at %d: %w", t.name, c.off, err)
			case <-ctx.Done():
				return fmt.Errorf("%s at %d: %w", t.name, c.off, ctx.Err())
			}
		}
		if sendErr != nil {
			return sendErr
		}
	}
	return nil
}
