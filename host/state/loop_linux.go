package state

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"

	"github.com/taskhost/taskhost/internal/statekv"
)

// loop serves the state socket's connections from one thread, as
// Redis does: it waits in epoll_wait for any connection to have something
// to read, reads it, answers each complete request and writes the answers,
// with no goroutine between the socket and the store. From four busy
// client processes on two cores that keeps the slowest answers (p99) near
// Redis's; a goroutine per connection, each woken by Go's network poller,
// made them about twice as slow (see docs/performance.md).
//
// A request that the server holds (a lock to wait for, a barrier, a
// watch), and an answer that does not fit in the socket's buffer, would
// hold up every other connection: for those the loop hands the
// connection to a goroutine of its own (serveHanded), for good.
type loop struct {
	s    *Server
	lfd  int // the listening socket
	ep   int // the epoll instance
	wake [2]int

	bound bool // the socket's file is the loop's

	mu    sync.Mutex
	cmds  []func(conns map[int]*loopConn)
	done  chan struct{}
	ended bool // no more commands: the loop stopped or is stopping
}

// loopConn is one connection the loop serves.
type loopConn struct {
	fd     int
	in     []byte // what was read and not yet answered
	task   string
	writer string // "" until the hello
}

func listen(s *Server) (*loop, error) {
	l := &loop{s: s, lfd: -1, ep: -1, wake: [2]int{-1, -1}, done: make(chan struct{})}
	fail := func(err error) (*loop, error) {
		l.closeFDs()
		return nil, err
	}
	var err error
	if l.lfd, err = syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0); err != nil {
		return fail(err)
	}
	if err := syscall.Bind(l.lfd, &syscall.SockaddrUnix{Name: s.path}); err != nil {
		return fail(&net.OpError{Op: "listen", Net: "unix", Addr: &net.UnixAddr{Name: s.path, Net: "unix"}, Err: err})
	}
	l.bound = true
	if err := os.Chmod(s.path, 0o600); err != nil {
		return fail(err)
	}
	if err := syscall.Listen(l.lfd, syscall.SOMAXCONN); err != nil {
		return fail(err)
	}
	if err := syscall.Pipe2(l.wake[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return fail(err)
	}
	if l.ep, err = syscall.EpollCreate1(syscall.EPOLL_CLOEXEC); err != nil {
		return fail(err)
	}
	for _, fd := range []int{l.lfd, l.wake[0]} {
		if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			return fail(err)
		}
	}
	return l, nil
}

func (l *loop) closeFDs() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	for _, fd := range []int{l.lfd, l.ep, l.wake[0], l.wake[1]} {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
	if l.bound {
		os.Remove(l.s.path)
	}
}

// do runs cmd on the loop's thread and waits for it; false if the loop
// has ended.
func (l *loop) do(cmd func(conns map[int]*loopConn)) bool {
	ran := make(chan struct{})
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return false
	}
	l.cmds = append(l.cmds, func(conns map[int]*loopConn) { cmd(conns); close(ran) })
	// Under l.mu, so that the pipe is not closed meanwhile.
	syscall.Write(l.wake[1], []byte{1})
	l.mu.Unlock()
	select {
	case <-ran:
		return true
	case <-l.done:
		return false
	}
}

// dropAll closes every connection the loop serves.
func (l *loop) dropAll() int {
	n := 0
	l.do(func(conns map[int]*loopConn) { n = l.closeAll(conns) })
	return n
}

// stop ends the loop and closes its connections and socket.
func (l *loop) stop() {
	l.do(func(conns map[int]*loopConn) {
		l.closeAll(conns)
		l.mu.Lock()
		l.ended = true
		l.mu.Unlock()
	})
	<-l.done
}

// closeTask closes the connections of a task.
func (l *loop) closeTask(task string) int {
	n := 0
	l.do(func(conns map[int]*loopConn) { n = l.closeTaskConns(conns, task) })
	return n
}

// closeTaskConns closes the connections of a task, on the loop's thread.
func (l *loop) closeTaskConns(conns map[int]*loopConn, task string) int {
	n := 0
	for fd, c := range conns {
		if c.writer != "" && c.task == task {
			syscall.Close(fd)
			delete(conns, fd)
			n++
		}
	}
	return n
}

func (l *loop) closeAll(conns map[int]*loopConn) int {
	n := len(conns)
	for fd := range conns {
		syscall.Close(fd)
		delete(conns, fd)
	}
	l.s.mu.Lock()
	l.s.drops += n
	l.s.mu.Unlock()
	return n
}

func (l *loop) run() {
	defer l.s.wg.Done()
	defer close(l.done)
	defer l.closeFDs()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	conns := map[int]*loopConn{}
	evs := make([]syscall.EpollEvent, 128)
	rb := make([]byte, 64<<10)
	var out []byte
	for {
		n, err := syscall.EpollWait(l.ep, evs, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			l.s.log.Error("state server stopped", "error", err)
			l.mu.Lock()
			l.ended = true
			l.mu.Unlock()
			l.closeAll(conns)
			return
		}
		for _, ev := range evs[:n] {
			switch fd := int(ev.Fd); fd {
			case l.lfd:
				l.accept(conns)
			case l.wake[0]:
				var b [64]byte
				for {
					if n, _ := syscall.Read(fd, b[:]); n <= 0 {
						break
					}
				}
				l.mu.Lock()
				cmds := l.cmds
				l.cmds = nil
				l.mu.Unlock()
				for _, cmd := range cmds {
					cmd(conns)
				}
				l.mu.Lock()
				ended := l.ended
				l.mu.Unlock()
				if ended {
					return
				}
			default:
				if c := conns[fd]; c != nil {
					out = l.serve(conns, c, rb, out[:0])
				}
			}
		}
	}
}

func (l *loop) accept(conns map[int]*loopConn) {
	for {
		fd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ECONNABORTED) {
			continue
		}
		if err != nil {
			return // EAGAIN: no more for now
		}
		if err := syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			syscall.Close(fd)
			continue
		}
		conns[fd] = &loopConn{fd: fd}
	}
}

func (l *loop) drop(conns map[int]*loopConn, c *loopConn) {
	syscall.Close(c.fd)
	delete(conns, c.fd)
}

// serve reads what c has sent and answers every complete request in it.
// out is a buffer to reuse; serve returns it.
func (l *loop) serve(conns map[int]*loopConn, c *loopConn, rb, out []byte) []byte {
	for {
		n, err := syscall.Read(c.fd, rb)
		if n > 0 {
			c.in = append(c.in, rb[:n]...)
			if n == len(rb) {
				continue
			}
			break
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EAGAIN) {
			break
		}
		l.drop(conns, c) // closed by the client, or broken
		return out
	}
	done := 0
	for len(c.in)-done >= 4 {
		size := binary.BigEndian.Uint32(c.in[done:])
		if size > statekv.MaxFrame {
			l.drop(conns, c)
			return out
		}
		if len(c.in)-done < 4+int(size) {
			break
		}
		msg := c.in[done+4 : done+4+int(size)]
		if c.writer == "" {
			task, writer, ok := l.s.hello(msg)
			if !ok {
				out = statekv.AppendResponse(out, &statekv.Response{Status: statekv.StatusDenied, Msg: "state: not a task of this run"})
				l.write(c, out)
				l.drop(conns, c)
				return out
			}
			c.task, c.writer = task, writer
			out = statekv.AppendResponse(out, &statekv.Response{Status: statekv.StatusOK})
			done += 4 + int(size)
			continue
		}
		q, err := statekv.DecodeRequest(msg)
		if err != nil {
			out = statekv.AppendResponse(out, &statekv.Response{Status: statekv.StatusInvalid, Msg: err.Error()})
			l.write(c, out)
			l.drop(conns, c)
			return out
		}
		switch q.Op {
		case statekv.OpLock, statekv.OpBarrier, statekv.OpWatch:
			// Held by the server: on a goroutine of its own, with the
			// answers so far.
			c.in = c.in[done:]
			l.handOff(conns, c, out)
			return out[:0]
		}
		p := l.s.do(c.task, c.writer, &q)
		if l.s.dropNow() {
			l.s.faultDropped(c.task, l.closeAll(conns)+l.s.dropHanded())
			return out[:0]
		}
		out = statekv.AppendResponse(out, &p)
		done += 4 + int(size)
	}
	if done == len(c.in) {
		c.in = c.in[:0]
		if cap(c.in) > 1<<20 {
			c.in = nil // let a large request's buffer go
		}
	} else if done > 0 {
		c.in = append(c.in[:0], c.in[done:]...)
	}
	if len(out) > 0 {
		if rest, ok := l.write(c, out); !ok {
			l.drop(conns, c)
		} else if len(rest) > 0 {
			// The socket's buffer is full: a goroutine writes the rest
			// as the client reads it.
			l.handOff(conns, c, rest)
		}
	}
	return out[:0]
}

// write writes out to c without waiting; it returns what did not fit in
// the socket's buffer, and false if the connection is broken. (A write to
// a connection the client closed fails with EPIPE: the Go runtime ignores
// the SIGPIPE, as for its own sockets.)
func (l *loop) write(c *loopConn, out []byte) ([]byte, bool) {
	for len(out) > 0 {
		n, err := syscall.Write(c.fd, out)
		switch {
		case n > 0:
			out = out[n:]
		case errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.EAGAIN):
			return out, true
		default:
			return nil, false
		}
	}
	return nil, true
}

// handOff gives c to a goroutine of its own, which first writes out.
func (l *loop) handOff(conns map[int]*loopConn, c *loopConn, out []byte) {
	delete(conns, c.fd)
	_ = syscall.EpollCtl(l.ep, syscall.EPOLL_CTL_DEL, c.fd, nil)
	f := os.NewFile(uintptr(c.fd), "state")
	nc, err := net.FileConn(f) // a copy of the descriptor, in Go's poller
	f.Close()
	if err != nil {
		l.s.log.Warn("state connection not handed over", "error", err)
		return
	}
	if !l.s.handed(nc, c.task) {
		nc.Close()
		return
	}
	pending := append([]byte(nil), out...)
	in := c.in
	l.s.wg.Add(1)
	go func() {
		defer l.s.wg.Done()
		l.s.serveHanded(nc, c.task, c.writer, pending, in)
	}()
}
