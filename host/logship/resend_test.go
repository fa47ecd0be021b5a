package logship_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/logship"
)

// proxy forwards TCP connections to a NATS server until cut, which
// closes them and refuses new ones until mend.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.sever(true) })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close() }()
		go func() { io.Copy(c, s); c.Close() }()
	}
}

// sever closes every connection, and refuses new ones while cut.
func (p *proxy) sever(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// lines is a log output a test can wait on.
type lines struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.b.String(), s)
}

// What the shipper could not send while its connection was down is sent
// once it is up again, and the file arrives as written.
func TestResentAfterReconnect(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	token, err := r.hub.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(r.hub.URL())
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	down := make(chan struct{}, 1)
	// No buffer for what is published while disconnected: it fails, and
	// it is the shipper that sends it again.
	nc, err := nats.Connect("nats://"+p.ln.Addr().String(), nats.Token(token), nats.CustomInboxPrefix(r.names.Inbox("a1")),
		nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(*nats.Conn, error) {
			select {
			case down <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := r.sink.Allow("a1", 8, "tasks/t8"); err != nil {
		t.Fatal(err)
	}
	out := &lines{}
	dir := t.TempDir()
	s, err := logship.Ship(context.Background(), logship.ShipperConfig{Conn: nc, RunKey: r.hub.RunKey(), Agent: "a1", Slot: 8, Dir: dir,
		ChunkBytes: 4 << 10, Poll: 20 * time.Millisecond, AckWait: time.Second,
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: out})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	path := filepath.Join(dir, "task.log")
	want := randomBytes(20 << 10)
	appendFile(t, path, want)
	if got := r.waitFor("tasks/t8", "task.log", want); !bytes.Equal(got, want) {
		t.Fatalf("before the cut: the host has %d bytes, want %d", len(got), len(want))
	}
	p.sever(true)
	select {
	case <-down:
	case <-time.After(30 * time.Second):
		t.Fatal("the connection did not go down")
	}
	more := randomBytes(40 << 10)
	appendFile(t, path, more)
	want = append(want, more...)
	deadline := time.Now().Add(30 * time.Second)
	for !out.has("logs not all shipped") {
		if time.Now().After(deadline) {
			t.Fatalf("the shipper never failed to send while cut off; its log:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.sever(false)
	finish(t, s)
	r.sync()
	got, err := os.ReadFile(filepath.Join(r.runDir, "tasks/t8/task.log"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the reconnect: the host has %d bytes (%v), want the %d written", len(got), err, len(want))
	}
}
