package emit

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
)

// silentHub starts a NATS server where every batch on the events subject
// is taken and never acknowledged (a store that cannot write and says
// nothing), and returns what a task needs to report to it.
func silentHub(t *testing.T) *packv1.Hub {
	t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if _, err := nc.Subscribe("ev", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &packv1.Hub{Url: srv.ClientURL(), EventsSubject: "ev", InboxPrefix: "_in.t1", MsgIdPrefix: "t1.x."}
}

// within runs fn and fails the test if it has not returned after d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still waits after %s", what, d)
	}
}

// TestEmitGivesUpOnASilentHub: a task that reports to a hub that never
// acknowledges anything is not held forever: once the hub acknowledged
// nothing for ackWait, emit stops waiting (what follows is dropped), and
// flush returns at once with the error and the last event stored.
func TestEmitGivesUpOnASilentHub(t *testing.T) {
	old := ackWait
	ackWait = 300 * time.Millisecond
	t.Cleanup(func() { ackWait = old })

	em, err := Dial(silentHub(t), "silent", "")
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	within(t, 20*time.Second, "emit", func() {
		for i := 0; i < 100_000; i++ {
			em.Emit(report.Event{Kind: report.KindStart, ID: "1", Name: "a step", Type: report.TypeStep})
		}
	})
	var last uint64
	within(t, 20*time.Second, "flush", func() { last, err = em.Flush(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "not acknowledged by the hub: none acknowledged for 300ms") ||
		!strings.Contains(err.Error(), "later events were not sent") {
		t.Fatalf("flush: %v, want the hub's silence and the events dropped", err)
	}
	if last != 0 {
		t.Errorf("flush says event %d is the last stored; the hub stored none", last)
	}
}

// TestFlushGivesUpOnASilentHub: flush with a context that never ends
// still returns, once the hub acknowledged nothing for ackWait.
func TestFlushGivesUpOnASilentHub(t *testing.T) {
	old := ackWait
	ackWait = 300 * time.Millisecond
	t.Cleanup(func() { ackWait = old })

	em, err := Dial(silentHub(t), "silent", "")
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	for i := 0; i < 10; i++ {
		em.Emit(report.Event{Kind: report.KindStart, ID: "1", Name: "a step", Type: report.TypeStep})
	}
	within(t, 20*time.Second, "flush", func() { _, err = em.Flush(context.Background()) })
	if err == nil || !strings.Contains(err.Error(), "events from 1 on not acknowledged by the hub") {
		t.Fatalf("flush: %v, want events from 1 on not acknowledged", err)
	}
}

// revocable lets clients in with a token while it is not revoked.
type revocable struct {
	mu      sync.Mutex
	revoked bool
}

func (a *revocable) Check(c natsserver.ClientAuthentication) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch c.GetOpts().Token {
	case "admin":
		return true
	case "task":
		return !a.revoked
	}
	return false
}

// jetStreamHub starts a NATS server with JetStream (its options changed
// by opts) and a stream on the events subject (its config changed by
// cfg), and returns the server, its authenticator, what a task needs to
// report to it, and the stream.
func jetStreamHub(t *testing.T, opts func(*natsserver.Options), cfg func(*jetstream.StreamConfig)) (*natsserver.Server, *revocable, *packv1.Hub, jetstream.Stream) {
	t.Helper()
	auth := &revocable{}
	o := &natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), CustomClientAuthentication: auth}
	if opts != nil {
		opts(o)
	}
	srv, err := natsserver.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	admin := []nats.Option{nats.Token("admin")}
	if o.TLSConfig != nil {
		// A hub over TLS: the test's own connection trusts the CAs the
		// server's configuration names.
		admin = append(admin, nats.Secure(&tls.Config{RootCAs: o.TLSConfig.RootCAs, MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(srv.ClientURL(), admin...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	sc := jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev"}, Storage: jetstream.FileStorage, Discard: jetstream.DiscardNew}
	if cfg != nil {
		cfg(&sc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	return srv, auth, &packv1.Hub{Url: srv.ClientURL(), Token: "task", EventsSubject: "ev", InboxPrefix: "_in.t1", MsgIdPrefix: "t1.x."}, stream
}

// TestEmitStopsWhenRefusedForGood: when the hub's answer to the task's
// events is final (its credentials were revoked, a batch is larger than
// the hub takes, the run's stream is full), the SDK stops sending at once
// rather than for ackWait (a minute): flush returns the reason, and the
// events after it are dropped and counted; the task is told once; a later
// flush (t.Sync, the task's end) returns the same.
func TestEmitStopsWhenRefusedForGood(t *testing.T) {
	t.Parallel()
	step := func(n int, data json.RawMessage) report.Event {
		return report.Event{Kind: report.KindStart, ID: strconv.Itoa(n), Name: "a step", Type: report.TypeStep, Data: data}
	}
	tests := map[string]struct {
		opts  func(*natsserver.Options)
		cfg   func(*jetstream.StreamConfig)
		after func(t *testing.T, srv *natsserver.Server, auth *revocable)
		data  json.RawMessage // of the events sent after
		want  string
	}{
		"credentials revoked": {
			after: func(t *testing.T, srv *natsserver.Server, auth *revocable) {
				auth.mu.Lock()
				auth.revoked = true
				auth.mu.Unlock()
				cz, err := srv.Connz(&natsserver.ConnzOptions{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cz.Conns {
					if c.Name == "refused" {
						_ = srv.DisconnectClientByID(c.Cid)
					}
				}
			},
			want: "authorization violation (its credentials were revoked",
		},
		"the stream's largest message": {
			cfg:  func(c *jetstream.StreamConfig) { c.MaxMsgSize = 4 << 10 },
			data: json.RawMessage(`"` + strings.Repeat("x", 8<<10) + `"`),
			want: "a batch larger than the hub takes: nats: API error: code=400 err_code=10054",
		},
		"the server's largest message": {
			opts: func(o *natsserver.Options) { o.MaxPayload = 4 << 10 },
			data: json.RawMessage(`"` + strings.Repeat("x", 8<<10) + `"`),
			want: "a batch larger than the hub takes: nats: maximum payload exceeded",
		},
		"the stream full": {
			cfg:  func(c *jetstream.StreamConfig) { c.MaxBytes = 16 << 10 },
			data: json.RawMessage(`"` + strings.Repeat("x", 1<<10) + `"`),
			want: "the run's stream is full (max_run_bytes): nats: API error: code=503 err_code=10077 description=maximum bytes exceeded",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv, auth, hub, _ := jetStreamHub(t, tc.opts, tc.cfg)
			em, err := Dial(hub, "refused", "")
			if err != nil {
				t.Fatal(err)
			}
			defer em.Close()
			var told []error
			em.SetOnRefused(func(err error) { told = append(told, err) })
			for i := range 3 {
				em.Emit(step(i+1, nil))
			}
			if last, err := em.Flush(context.Background()); err != nil || last != 3 {
				t.Fatalf("first flush: %d, %v", last, err)
			}
			if tc.after != nil {
				tc.after(t, srv, auth)
			}
			var last uint64
			within(t, 20*time.Second, "emit and flush", func() {
				for i := range 50 {
					em.Emit(step(i+4, tc.data))
				}
				last, err = em.Flush(context.Background())
			})
			if err == nil || !Refused(err) || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(tc.want)) ||
				!strings.Contains(err.Error(), "on were not stored") {
				t.Fatalf("flush: %v, want refused for good: %s", err, tc.want)
			}
			if last < 3 || last >= 53 {
				t.Errorf("flush says event %d is the last stored", last)
			}
			if len(told) != 1 {
				t.Errorf("the task was told %d times: %v", len(told), told)
			}
			em.Emit(step(100, nil))
			within(t, 5*time.Second, "a later flush", func() { _, err = em.Flush(context.Background()) })
			if !Refused(err) || len(told) != 1 {
				t.Errorf("a later flush: %v (told %d times)", err, len(told))
			}
		})
	}
}

// TestEmitResendsTooManyRequests: a batch the stream drops because it
// takes messages in faster than it stores them (429 Too Many Requests) is
// not refused for good: it is sent again, and every event is stored once.
func TestEmitResendsTooManyRequests(t *testing.T) {
	t.Parallel()
	_, _, hub, stream := jetStreamHub(t, func(o *natsserver.Options) { o.StreamMaxBufferedMsgs = 1 }, nil)
	em, err := Dial(hub, "busy", "")
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	const n = 20_000
	var last uint64
	within(t, 60*time.Second, "emit and flush", func() {
		for i := range n {
			em.Emit(report.Event{Kind: report.KindStart, ID: strconv.Itoa(i + 1), Name: "a step", Type: report.TypeStep})
		}
		last, err = em.Flush(context.Background())
	})
	if err != nil || last != n {
		t.Fatalf("flush: %d, %v; want %d stored", last, err, n)
	}
	var apiErr *jetstream.APIError
	if !errors.As(em.lastErr, &apiErr) || apiErr.ErrorCode != errCodeTooManyRequests {
		t.Fatalf("the stream never answered 429 (last error %v): nothing tested", em.lastErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var events uint64
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range info.State.Msgs {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var b packv1.EventBatch
		if err := b.UnmarshalVT(m.Data()); err != nil {
			t.Fatal(err)
		}
		events += uint64(len(b.Events))
	}
	if events != n {
		t.Errorf("the stream holds %d events, want %d, each once", events, n)
	}
}

// errCodeTooManyRequests is JetStream's answer to a message its stream
// dropped, its ingest queue full.
const errCodeTooManyRequests jetstream.ErrorCode = 10167

// storedEvents reads the stream's batches and returns how many events it
// holds, and how many times each event is in it.
func storedEvents(t *testing.T, stream jetstream.Stream) (int, map[uint64]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var total int
	seen := map[uint64]int{}
	for range info.State.Msgs {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var b packv1.EventBatch
		if err := b.UnmarshalVT(m.Data()); err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Events {
			total++
			seen[ev.GetSeq()]++
		}
	}
	return total, seen
}

// TestEmitResendsBatchesLostTogether: the batches sent while the stream
// changes its leader are lost together, with no answer, on a connection
// that stays up; the later ones are stored. Every lost batch is sent
// again once resendAfter passed without its answer, together (not one
// resendAfter after the other, which takes longer than a task's flush
// may), and every event is stored once. A relay between the task's
// subject and the stream's drops the lost ones.
func TestEmitResendsBatchesLostTogether(t *testing.T) {
	old := resendAfter
	resendAfter = 500 * time.Millisecond
	t.Cleanup(func() { resendAfter = old })

	srv, _, hub, stream := jetStreamHub(t, nil, func(c *jetstream.StreamConfig) {
		c.Subjects = []string{"evs"}
		c.Duplicates = time.Minute
	})
	relay, err := nats.Connect(srv.ClientURL(), nats.Token("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	const lose = 40
	var mu sync.Mutex
	var got, lost int
	if _, err := relay.Subscribe("ev", func(m *nats.Msg) {
		mu.Lock()
		got++
		drop := got > 2 && lost < lose
		if drop {
			lost++
		}
		mu.Unlock()
		if !drop {
			_ = relay.PublishMsg(&nats.Msg{Subject: "evs", Reply: m.Reply, Header: m.Header, Data: m.Data})
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := relay.Flush(); err != nil {
		t.Fatal(err)
	}

	em, err := Dial(hub, "lossy", "")
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	const n = 20_000
	// The task's flush budget: enough for a few rounds of sending again,
	// not for one round per lost batch (lose*resendAfter).
	ctx, cancel := context.WithTimeout(context.Background(), lose*resendAfter/3)
	defer cancel()
	var last uint64
	within(t, 60*time.Second, "emit and flush", func() {
		for i := range n {
			em.Emit(report.Event{Kind: report.KindStart, ID: strconv.Itoa(i + 1), Name: "a step", Type: report.TypeStep})
		}
		last, err = em.Flush(ctx)
	})
	mu.Lock()
	if lost < lose {
		t.Fatalf("the relay lost %d batches of %d: nothing tested", lost, lose)
	}
	mu.Unlock()
	if err != nil || last != n {
		t.Fatalf("flush: %d, %v; want %d stored", last, err, n)
	}
	total, seen := storedEvents(t, stream)
	for i := uint64(1); i <= n; i++ {
		if seen[i] != 1 {
			t.Errorf("event %d is stored %d times, want once", i, seen[i])
		}
	}
	if total != n {
		t.Errorf("the stream holds %d events, want %d, each once", total, n)
	}
}
