package statebridge

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/internal/statekv"
)

// FrontConfig configures a Front.
type FrontConfig struct {
	// Conn is the agent's connection to the run's hub, whose inbox
	// prefix is the agent's (agentwire.Names.Inbox); required.
	Conn *nats.Conn
	// RunKey is the run's key, and Agent the agent's name; required.
	RunKey, Agent string
	// Dir is where the Front makes its socket's directory; "" is the
	// system's temporary directory.
	Dir string
	// Logger gets the Front's messages; nil discards them.
	Logger hclog.Logger
}

// Front serves the state socket of the tasks an agent runs, and forwards
// their requests to the host's Responder.
type Front struct {
	nc      *nats.Conn
	subject string
	prefix  string // of the connection ids: random, so that no two Fronts share one
	dir     string
	path    string
	ln      net.Listener
	log     hclog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	next    atomic.Uint64
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// NewFront listens on a socket in a new 0700 directory in cfg.Dir and
// serves it until Close.
func NewFront(cfg FrontConfig) (*Front, error) {
	if cfg.Conn == nil || cfg.RunKey == "" || cfg.Agent == "" {
		return nil, errors.New("statebridge: the front needs Conn, RunKey and Agent")
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	dir, err := os.MkdirTemp(cfg.Dir, "taskhost-state-")
	if err != nil {
		return nil, fmt.Errorf("statebridge: %w", err)
	}
	path := filepath.Join(dir, "state.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("statebridge: %w", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ctx, cancel := context.WithCancel(context.Background())
	f := &Front{
		nc: cfg.Conn, subject: agentwire.Names{RunKey: cfg.RunKey}.State(cfg.Agent), prefix: hex.EncodeToString(b) + "-",
		dir: dir, path: path, ln: ln, log: log, ctx: ctx, cancel: cancel, conns: map[net.Conn]bool{},
	}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

// Socket is the path the agent gives its tasks as their state socket.
func (f *Front) Socket() string { return f.path }

// Close stops serving: it closes the socket and every task's connection,
// and removes the socket's directory.
func (f *Front) Close() {
	f.cancel()
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
	os.RemoveAll(f.dir)
}

func (f *Front) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		if f.ctx.Err() != nil {
			f.mu.Unlock()
			c.Close()
			return
		}
		f.conns[c] = true
		f.wg.Add(1)
		f.mu.Unlock()
		go f.serve(c)
	}
}

// serve forwards the requests of one task connection, one at a time (as
// the protocol has it), until the task or the bridge ends it.
func (f *Front) serve(c net.Conn) {
	defer f.wg.Done()
	id := f.prefix + strconv.FormatUint(f.next.Add(1), 10)
	opened := false
	defer func() {
		c.Close()
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		if opened {
			m := nats.NewMsg(f.subject)
			m.Header.Set(hConn, id)
			m.Header.Set(hClose, "1")
			_ = f.nc.PublishMsg(m) // if lost, the Responder's idle limit closes its end
		}
	}()
	r := bufio.NewReaderSize(c, 16<<10)
	for {
		msg, err := statekv.ReadFrame(r, nil)
		if err != nil || len(msg) == 0 {
			return
		}
		m := nats.NewMsg(f.subject)
		m.Header.Set(hConn, id)
		if !opened {
			m.Header.Set(hOpen, "1")
			opened = true
		}
		m.Data = msg
		var pump chan *nats.Msg
		var sub *nats.Subscription
		if statekv.Op(msg[0]) == statekv.OpWatch {
			inbox := f.nc.NewInbox()
			pump = make(chan *nats.Msg, 1024)
			if sub, err = f.nc.ChanSubscribe(inbox, pump); err != nil {
				f.log.Warn("state watch not forwarded", "error", err)
				return
			}
			m.Header.Set(hPump, inbox)
		}
		ctx, cancel := context.WithTimeout(f.ctx, answerWait)
		reply, err := f.nc.RequestMsgWithContext(ctx, m)
		cancel()
		if err != nil || reply.Header.Get(hGone) != "" {
			// No answer: the task asks again on a new connection, and
			// the server answers a write it applied from its record.
			if err != nil {
				f.log.Debug("no answer from the host's state server; closing the task's connection", "conn", id, "error", err)
			}
			if sub != nil {
				_ = sub.Unsubscribe()
			}
			return
		}
		if err := writeFrame(c, reply.Data, time.Now().Add(answerWait)); err != nil {
			if sub != nil {
				_ = sub.Unsubscribe()
			}
			return
		}
		if sub != nil {
			if p, err := statekv.DecodeResponse(reply.Data); err == nil && p.Status == statekv.StatusOK {
				f.pump(c, r, id, sub, pump)
				return
			}
			_ = sub.Unsubscribe()
		}
	}
}

// pump writes a watch's changes to the task's connection, in order, until
// one is missing, the pump goes silent or ends, or the task leaves.
func (f *Front) pump(c net.Conn, r *bufio.Reader, id string, sub *nats.Subscription, in <-chan *nats.Msg) {
	defer sub.Unsubscribe()
	gone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, r) // the task says nothing more; EOF when it leaves
		close(gone)
	}()
	silence := time.NewTimer(2 * keepalive)
	defer silence.Stop()
	var seq uint64
	for {
		select {
		case m := <-in:
			n, ok := seqOf(m)
			switch {
			case !ok:
				f.log.Warn("a state watch's change without its number; closing the watch", "conn", id)
				return
			case m.Header.Get(hEnd) != "":
				return
			case m.Header.Get(hKeepalive) != "":
				_ = m.Respond(nil)
				// Every change up to n was sent before it.
				if n > seq {
					f.log.Debug("a state watch lost changes; closing it, for the task to resume", "conn", id, "have", seq, "sent", n)
					return
				}
			case n != seq+1:
				f.log.Debug("a state watch lost changes; closing it, for the task to resume", "conn", id, "have", seq, "got", n)
				return
			default:
				seq = n
				if err := writeFrame(c, m.Data, time.Now().Add(answerWait)); err != nil {
					return
				}
			}
			silence.Reset(2 * keepalive)
		case <-silence.C:
			f.log.Debug("a state watch went silent; closing it, for the task to resume", "conn", id)
			return
		case <-gone:
			return
		case <-f.ctx.Done():
			return
		}
	}
}
