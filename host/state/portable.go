package state

import (
	"bufio"
	"net"
	"os"

	"github.com/taskhost/taskhost/internal/statekv"
)

// portable serves the socket with a goroutine per connection, each
// reading its requests through Go's network poller (serveHanded): what
// serves the state where there is no epoll loop. It answers the same;
// under many busy clients its slowest answers are slower.
type portable struct {
	s    *Server
	ln   net.Listener
	done chan struct{}
}

func listenPortable(s *Server) (*portable, error) {
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return nil, err
	}
	// The socket's directory is this user's alone; the socket is too.
	if err := os.Chmod(s.path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return &portable{s: s, ln: ln, done: make(chan struct{})}, nil
}

func (p *portable) run() {
	defer p.s.wg.Done()
	defer close(p.done)
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed by stop
		}
		p.s.wg.Add(1) // run's own is not done yet: the count is above 0
		go func() {
			defer p.s.wg.Done()
			p.serve(c)
		}()
	}
}

// serve checks c's hello and then answers its requests. From its accept
// on, c is among the server's connections (with no task until its hello
// is good), so that DropAll and Close close it too.
func (p *portable) serve(c net.Conn) {
	s := p.s
	if !s.handed(c, "") {
		c.Close()
		return
	}
	r := bufio.NewReaderSize(c, 16<<10)
	msg, err := statekv.ReadFrame(r, nil)
	task, writer, ok := "", "", false
	if err == nil {
		// The hello is checked and c given its task at once, under the
		// server's lock, so that a CloseTask of the task (once its token
		// is no longer good) either comes after and closes c, or before
		// and c's token is refused.
		s.mu.Lock()
		if _, open := s.conns[c]; open {
			if task, writer, ok = s.hello(msg); ok {
				s.conns[c] = task
			}
		}
		s.mu.Unlock()
	}
	if !ok {
		if err == nil {
			out := statekv.AppendResponse(nil, &statekv.Response{Status: statekv.StatusDenied, Msg: "state: not a task of this run"})
			_, _ = c.Write(out)
		}
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		return
	}
	in, _ := r.Peek(r.Buffered())
	in = append([]byte(nil), in...)
	out := statekv.AppendResponse(nil, &statekv.Response{Status: statekv.StatusOK})
	s.serveHanded(c, task, writer, out, in)
}

// closeTask closes nothing: every connection is the server's own
// (Server.CloseTask closes them).
func (p *portable) closeTask(string) int { return 0 }

// dropAll likewise.
func (p *portable) dropAll() int { return 0 }

func (p *portable) stop() {
	p.ln.Close() // removes the socket's file
	<-p.done
}
