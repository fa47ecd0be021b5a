package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk"
)

// The tasks here hand their credentials to a child of their own (this
// binary, `raw MODE`), which speaks to the hub with nats.go directly, as
// any process holding a task's credentials can: it sends what the SDK
// never would.

// childCreds is what a task hands its children in TASKHOST_CHILD (the
// fields the raw modes use).
type childCreds struct {
	URL         string `json:"url"`
	Token       string `json:"token"`
	Subject     string `json:"subject"`
	InboxPrefix string `json:"inbox_prefix"`
	StateSocket string `json:"state_socket"`
	Parent      string `json:"parent"`
}

func registerRawTasks(s *sdk.Set) {
	sdk.Register(s, "badevent", "Has a child publish, with the task's credentials, an event whose data is not JSON; then passes.", func(t *sdk.T, a RawArgs) {
		t.Step("publish", func(t *sdk.T) { runRaw(t, "badjson", a.Mode) })
		t.Step("after", func(t *sdk.T) {})
	})
	sdk.Register(s, "flood", "Has a child flood the hub with the task's credentials, from many goroutines over one or more connections, until the hub stops it or the duration passes: kind batches (small events), garbage (1 MB messages that are not events), empty (messages of no bytes), answered (small events whose acknowledgements it reads, without waiting for them), or noread (small messages with a reply subject, on connections that never read the acknowledgements).", func(t *sdk.T, a FloodArgs) {
		t.Step("flood", func(t *sdk.T) {
			runRaw(t, "flood", a.Kind, strconv.Itoa(a.Goroutines), a.For.String(), strconv.Itoa(a.Conns))
		})
	})
	sdk.Register(s, "leakcreds", "Has a child write the task's credentials (TASKHOST_CHILD) to file; then passes.", func(t *sdk.T, a LeakCredsArgs) {
		t.Step("leak", func(t *sdk.T) { runRaw(t, "creds", a.File) })
	})
}

// RawArgs are badevent's arguments.
type RawArgs struct {
	Mode string `arg:"mode" doc:"what is wrong with the event: data (not JSON, the default), utf8, logfile, garbage"`
}

// FloodArgs are flood's arguments.
type FloodArgs struct {
	Kind       string        `arg:"kind" doc:"batches (the default), garbage, empty, answered or noread"`
	Goroutines int           `arg:"goroutines" doc:"default 50"`
	For        time.Duration `arg:"duration" doc:"default 20s"`
	Conns      int           `arg:"connections" doc:"connections the goroutines share, default 1"`
}

// LeakCredsArgs are leakcreds' arguments.
type LeakCredsArgs struct {
	File string `arg:"file,required"`
}

func runRaw(t *sdk.T, args ...string) {
	exe, err := os.Executable()
	if err != nil {
		t.Errorf("%v", err)
	}
	if err := t.Command(exe, append([]string{"raw"}, args...)...).Run(); err != nil {
		t.Failf("raw %v: %v", args, err)
	}
}

// raw is the main of `testpack raw MODE ARGS…`.
func raw(args []string) int {
	var c childCreds
	if err := json.Unmarshal([]byte(os.Getenv("TASKHOST_CHILD")), &c); err != nil {
		fmt.Fprintln(os.Stderr, "raw: no TASKHOST_CHILD:", err)
		return 2
	}
	var err error
	switch args[0] {
	case "creds":
		err = os.WriteFile(args[1], []byte(os.Getenv("TASKHOST_CHILD")), 0o600)
	case "badjson":
		err = publishBad(c, args[1])
	case "flood":
		n, _ := strconv.Atoi(args[2])
		d, _ := time.ParseDuration(args[3])
		conns, _ := strconv.Atoi(args[4])
		if args[1] == "noread" {
			err = floodNoRead(c, n, d, conns)
		} else {
			err = flood(c, args[1], n, d, conns)
		}
	default:
		err = fmt.Errorf("unknown mode %q", args[0])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "raw:", err)
		return 1
	}
	return 0
}

func connect(c childCreds, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(c.URL, append([]nats.Option{nats.Token(c.Token), nats.CustomInboxPrefix(c.InboxPrefix)}, opts...)...)
}

// publishBad publishes, acknowledged, a batch of a step that starts and
// ends, with one thing wrong in its end event.
func publishBad(c childCreds, mode string) error {
	nc, err := connect(c)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	pid := os.Getpid()
	src := "pid-" + strconv.Itoa(pid)
	id := fmt.Sprintf("%s/%d.1", c.Parent, pid)
	now := time.Now().UnixNano()
	end := &packv1.Event{Src: src, Seq: 2, Kind: "end", Id: id, Result: "passed", TimeUnixNano: now, Pid: int32(pid)}
	var data []byte
	switch mode {
	case "", "data":
		end.Data = []byte(`{"a":`)
	case "utf8":
		end.Reason = "bad \xff\xfe bytes"
	case "logfile":
		end.Logs = &packv1.LogRef{File: "../../../../../etc/passwd", Size: 100}
	case "garbage":
		data = []byte("this is not an event batch")
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	if data == nil {
		batch := &packv1.EventBatch{Events: []*packv1.Event{
			{Src: src, Seq: 1, Kind: "start", Id: id, Parent: c.Parent, Name: "bad " + mode, Type: "step", TimeUnixNano: now, Pid: int32(pid)},
			end,
		}}
		if data, err = batch.MarshalVT(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := js.Publish(ctx, c.Subject, data)
	if err != nil {
		return err
	}
	fmt.Printf("stored as %d\n", ack.Sequence)
	return nil
}

// flood publishes as fast as it can from n goroutines, over conns
// connections, without waiting for acknowledgements, until d passes or
// the hub closes the connections.
func flood(c childCreds, kind string, n int, d time.Duration, conns int) error {
	if n <= 0 {
		n = 50
	}
	if d <= 0 {
		d = 20 * time.Second
	}
	conns = min(max(conns, 1), n)
	var lastErr atomic.Value
	type conn struct {
		nc     *nats.Conn
		closed chan struct{}
	}
	var cs []conn
	for range conns {
		closed := make(chan struct{})
		var once sync.Once
		nc, err := connect(c,
			nats.ClosedHandler(func(*nats.Conn) { once.Do(func() { close(closed) }) }),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { lastErr.Store(err.Error()) }),
			nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			if len(cs) == 0 {
				return err
			}
			lastErr.Store(err.Error())
			break
		}
		defer nc.Close()
		if kind == "answered" {
			// Its answers are read, and dropped.
			if _, err := nc.Subscribe(c.InboxPrefix+".acks", func(*nats.Msg) {}); err != nil {
				return err
			}
		}
		cs = append(cs, conn{nc, closed})
	}
	garbage := make([]byte, 1000*1000)
	rand.Read(garbage)
	var sent atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		cn := cs[g%len(cs)]
		go func() {
			defer wg.Done()
			src := fmt.Sprintf("pid-%d", os.Getpid()*100+g)
			for seq := uint64(1); time.Now().Before(deadline); seq++ {
				select {
				case <-cn.closed:
					return
				default:
				}
				var msg []byte
				switch kind {
				case "garbage":
					msg = garbage
				case "empty":
				default:
					msg, _ = (&packv1.EventBatch{Events: []*packv1.Event{{Src: src, Seq: seq, Kind: "start",
						Id: fmt.Sprintf("f%d.%d", g, seq), Name: "flood", TimeUnixNano: time.Now().UnixNano()}}}).MarshalVT()
				}
				var err error
				if kind == "answered" {
					err = cn.nc.PublishRequest(c.Subject, c.InboxPrefix+".acks", msg)
				} else {
					err = cn.nc.Publish(c.Subject, msg)
				}
				if err != nil {
					lastErr.Store(err.Error())
					if errors.Is(err, nats.ErrConnectionClosed) {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	open := 0
	for _, cn := range cs {
		if !cn.nc.IsClosed() {
			open++
		}
	}
	fmt.Printf("sent %d messages on %d connections; %d still open; last error: %v\n", sent.Load(), len(cs), open, lastErr.Load())
	return nil
}

// floodNoRead speaks the NATS protocol by hand over conns connections:
// it subscribes to its inbox and publishes small messages that ask for an
// acknowledgement there, from n goroutines, but never reads what the hub
// sends back, until d passes or the hub closes the connections.
func floodNoRead(c childCreds, n int, d time.Duration, conns int) error {
	if n <= 0 {
		n = 50
	}
	if d <= 0 {
		d = 20 * time.Second
	}
	conns = min(max(conns, 1), n)
	addr := strings.TrimPrefix(c.URL, "nats://")
	connect, _ := json.Marshal(map[string]any{"auth_token": c.Token, "verbose": false, "pedantic": false, "headers": true})
	var lastErr atomic.Value
	var cs []net.Conn
	var mus []*sync.Mutex
	for range conns {
		nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return err
		}
		defer nc.Close()
		// The server's INFO line, then nothing more is read.
		if _, err := bufio.NewReader(nc).ReadString('\n'); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(nc, "CONNECT %s\r\nSUB %s.x 1\r\n", connect, c.InboxPrefix); err != nil {
			return err
		}
		cs, mus = append(cs, nc), append(mus, new(sync.Mutex))
	}
	deadline := time.Now().Add(d)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for g := range n {
		wg.Add(1)
		i := g % len(cs)
		go func() {
			defer wg.Done()
			msg := []byte(fmt.Sprintf("PUB %s %s.x 1\r\nx\r\n", c.Subject, c.InboxPrefix))
			var buf []byte
			for time.Now().Before(deadline) {
				buf = buf[:0]
				for range 100 {
					buf = append(buf, msg...)
				}
				mus[i].Lock()
				err := writeUntil(cs[i], buf, deadline)
				mus[i].Unlock()
				if err != nil {
					lastErr.Store(err.Error())
					return
				}
				sent.Add(100)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("sent %d messages on %d connections; last error: %v\n", sent.Load(), len(cs), lastErr.Load())
	return nil
}

// writeUntil writes b whole to c, however long the other side takes to
// read it, until the deadline passes.
func writeUntil(c net.Conn, b []byte, deadline time.Time) error {
	for len(b) > 0 {
		if time.Now().After(deadline) {
			return errors.New("the duration passed")
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(b)
		b = b[n:]
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			return err
		}
	}
	return nil
}
