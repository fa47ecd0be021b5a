package statebridge

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/internal/testfault"
)

// ResponderConfig configures a Responder.
type ResponderConfig struct {
	// Conn is the host's connection to the run's hub; required.
	Conn *nats.Conn
	// RunKey is the run's key; required.
	RunKey string
	// Socket is the host's state socket (hub.StateSocket); required.
	Socket string
	// Admit, if set, says whether agent may speak for the task whose
	// token a connection's hello gives (the agent was granted that
	// task's attempt); a hello it refuses is answered as a bad token,
	// without asking the server.
	Admit func(agent, token string) bool
	// Logger gets the Responder's messages; nil discards them.
	Logger hclog.Logger
	// Faults, for taskhost's own tests only: with DropEvery, every
	// DropEvery-th answer or pumped change (of all agents) is dropped
	// after the server made it. The zero value drops none.
	Faults testfault.Faults
}

// Responder relays the agents' Fronts' requests to the host's state
// server.
type Responder struct {
	cfg   ResponderConfig
	names agentwire.Names
	log   hclog.Logger
	sub   *nats.Subscription

	mu     sync.Mutex
	conns  map[string]map[string]*relay // by agent, by the Front's connection id
	closed bool
	sent   int // answers and changes, for Faults.DropEvery
}

// relay is one connection to the state server, for one connection of a
// Front's.
type relay struct {
	agent, id string
	c         net.Conn
	r         *bufio.Reader
	in        chan *nats.Msg
	done      chan struct{}

	mu     sync.Mutex
	closed bool
}

// close closes l, and its connection if it has one.
func (l *relay) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	if l.c != nil {
		l.c.Close()
	}
}

// NewResponder answers the state requests of every agent of the run until
// Close.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	if cfg.Conn == nil || cfg.RunKey == "" || cfg.Socket == "" {
		return nil, errors.New("statebridge: the responder needs Conn, RunKey and Socket")
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	s := &Responder{cfg: cfg, names: agentwire.Names{RunKey: cfg.RunKey}, log: log, conns: map[string]map[string]*relay{}}
	sub, err := cfg.Conn.Subscribe(s.names.AnyAgent("state"), s.take)
	if err != nil {
		return nil, fmt.Errorf("statebridge: %w", err)
	}
	s.sub = sub
	if err := cfg.Conn.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("statebridge: %w", err)
	}
	return s, nil
}

// Close stops answering and closes every connection to the server.
func (s *Responder) Close() {
	_ = s.sub.Unsubscribe()
	s.mu.Lock()
	s.closed = true
	all := s.conns
	s.conns = map[string]map[string]*relay{}
	s.mu.Unlock()
	for _, m := range all {
		for _, l := range m {
			l.close()
		}
	}
}

// RemoveAgent closes the agent's connections to the server: it is gone.
// It returns how many it closed.
func (s *Responder) RemoveAgent(agent string) int {
	s.mu.Lock()
	m := s.conns[agent]
	delete(s.conns, agent)
	s.mu.Unlock()
	for _, l := range m {
		l.close()
	}
	return len(m)
}

// Conns is how many connections to the server the Responder keeps for
// agent.
func (s *Responder) Conns(agent string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns[agent])
}

// take routes a message of an agent's Front to its connection, on the
// subscription's goroutine: it must not wait.
func (s *Responder) take(m *nats.Msg) {
	agent := s.names.AgentOf(m.Subject) // the hub lets an agent publish only its own
	id := m.Header.Get(hConn)
	if agent == "" || id == "" {
		return
	}
	s.mu.Lock()
	l := s.conns[agent][id]
	switch {
	case m.Header.Get(hClose) != "":
		s.forget(l)
		s.mu.Unlock()
		if l != nil {
			l.close()
		}
		return
	case l == nil && m.Header.Get(hOpen) != "" && !s.closed && len(s.conns[agent]) < maxConns:
		l = &relay{agent: agent, id: id, in: make(chan *nats.Msg, 1), done: make(chan struct{})}
		if s.conns[agent] == nil {
			s.conns[agent] = map[string]*relay{}
		}
		s.conns[agent][id] = l
		go s.serve(l)
	case l == nil:
		full := m.Header.Get(hOpen) != "" && len(s.conns[agent]) >= maxConns
		s.mu.Unlock()
		if full {
			s.log.Warn("an agent's state connection refused: it has too many", "agent", agent, "max", maxConns)
		}
		gone(m)
		return
	}
	s.mu.Unlock()
	select {
	case l.in <- m:
	default:
		// A Front asks one request at a time per connection.
		s.log.Warn("a state bridge connection sent a request before its last was answered; closing it", "agent", agent, "conn", id)
		s.drop(l)
		gone(m)
	}
}

// forget removes l from the connections, under s.mu.
func (s *Responder) forget(l *relay) {
	if l != nil && s.conns[l.agent][l.id] == l {
		delete(s.conns[l.agent], l.id)
		if len(s.conns[l.agent]) == 0 {
			delete(s.conns, l.agent)
		}
	}
}

func (s *Responder) drop(l *relay) {
	s.mu.Lock()
	s.forget(l)
	s.mu.Unlock()
	l.close()
}

// gone answers that there is no such connection.
func gone(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	a := nats.NewMsg(m.Reply)
	a.Header.Set(hGone, "1")
	_ = m.RespondMsg(a)
}

// dropNow counts an answer or change, and says whether to drop it for
// the test fault.
func (s *Responder) dropNow() bool {
	if s.cfg.Faults.DropEvery <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent++
	return s.sent%s.cfg.Faults.DropEvery == 0
}

// serve relays l's requests to the server and its answers back, one at a
// time, until l closes or is idle for idleAfter; then, for a watch the
// server accepted, it pumps the changes.
func (s *Responder) serve(l *relay) {
	defer s.drop(l)
	idle := time.NewTimer(idleAfter)
	defer idle.Stop()
	first := true
	var in []byte
	for {
		var m *nats.Msg
		select {
		case m = <-l.in:
		case <-idle.C:
			return
		case <-l.done:
			return
		}
		idle.Reset(idleAfter)
		if first {
			first = false
			if !s.open(l, m) {
				return
			}
		}
		if err := writeFrame(l.c, m.Data, time.Now().Add(serverWait)); err != nil {
			gone(m)
			return
		}
		_ = l.c.SetReadDeadline(time.Now().Add(serverWait))
		msg, err := statekv.ReadFrame(l.r, in)
		if err != nil {
			gone(m)
			return
		}
		in = msg
		watch := len(m.Data) > 0 && statekv.Op(m.Data[0]) == statekv.OpWatch
		if s.dropNow() {
			s.log.Warn("test fault: dropping a state answer", "agent", l.agent, "conn", l.id)
		} else {
			_ = m.Respond(msg)
		}
		if watch {
			pump := m.Header.Get(hPump)
			if p, err := statekv.DecodeResponse(msg); err == nil && p.Status == statekv.StatusOK && pump != "" {
				s.pump(l, pump)
			}
			return // the server serves a watching connection nothing more
		}
	}
}

// open dials the server for l, and answers a hello that Admit refuses
// as the server answers a bad token.
func (s *Responder) open(l *relay, m *nats.Msg) bool {
	if s.cfg.Admit != nil {
		q, err := statekv.DecodeRequest(m.Data)
		if err != nil || q.Op != statekv.OpHello || !s.cfg.Admit(l.agent, q.Key) {
			s.log.Warn("an agent's state connection refused: its task is not the agent's", "agent", l.agent)
			_ = m.Respond(statekv.AppendResponse(nil, &statekv.Response{Status: statekv.StatusDenied})[4:])
			return false
		}
	}
	c, err := net.DialTimeout("unix", s.cfg.Socket, serverWait)
	if err != nil {
		s.log.Warn("the state server cannot be reached", "error", err)
		gone(m)
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed { // closed while dialling
		c.Close()
		return false
	}
	l.c, l.r = c, bufio.NewReaderSize(c, 16<<10)
	return true
}

// pump sends a watch's changes to the Front at subject, numbered, and a
// keepalive while none comes, until the server's connection ends (l is
// closed, or the server closed it) or the Front no longer listens.
func (s *Responder) pump(l *relay, subject string) {
	_ = l.c.SetReadDeadline(time.Time{})
	var mu sync.Mutex
	var seq uint64 // of the last change, under mu, which also orders the sends
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(keepalive)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-stop:
				return
			}
			// Every change up to the number it carries was sent before
			// it. It is a request, so that a Front that went away
			// without its close reaching here ends the pump.
			m := nats.NewMsg(subject)
			m.Header.Set(hKeepalive, "1")
			mu.Lock()
			m.Header.Set(hSeq, strconv.FormatUint(seq, 10))
			mu.Unlock()
			if _, err := s.cfg.Conn.RequestMsg(m, keepalive); errors.Is(err, nats.ErrNoResponders) {
				s.log.Debug("a state watch's front is gone; closing its connection", "agent", l.agent, "conn", l.id)
				s.drop(l)
				return
			}
		}
	}()
	var in []byte
	for {
		msg, err := statekv.ReadFrame(l.r, in)
		mu.Lock()
		m := nats.NewMsg(subject)
		if err != nil {
			m.Header.Set(hEnd, "1")
		} else {
			seq++
			m.Data = msg
		}
		m.Header.Set(hSeq, strconv.FormatUint(seq, 10))
		if err == nil && s.dropNow() {
			s.log.Warn("test fault: dropping a state watch's change", "agent", l.agent, "conn", l.id)
		} else {
			_ = s.cfg.Conn.PublishMsg(m)
		}
		mu.Unlock()
		if err != nil {
			return
		}
		in = msg
	}
}
