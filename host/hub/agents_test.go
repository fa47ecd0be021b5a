package hub

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/agentwire"
)

// An agent may ship log chunks on its own log subjects only: another
// agent's is refused by the server, and so is a task's publish on any.
func TestAgentLogSubjectsConfined(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	n := agentwire.Names{RunKey: h.RunKey()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.js.CreateStream(ctx, jetstream.StreamConfig{Name: n.LogStream(), Subjects: []string{n.LogAll()}}); err != nil {
		t.Fatal(err)
	}
	token, err := h.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddAgent("a2", []string{"any"}); err != nil {
		t.Fatal(err)
	}
	task := h.AddTask("t1", 1, "tasks/t1")
	for who, opts := range map[string][]nats.Option{
		"agent a1": {nats.Token(token), nats.CustomInboxPrefix(n.Inbox("a1"))},
		"task t1":  {nats.Token(task.Token), nats.CustomInboxPrefix(task.InboxPrefix)},
	} {
		errs := make(chan error, 4)
		nc, err := nats.Connect(h.URL(), append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))...)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		refused := []string{n.Log("a2", 1)}
		if who == "task t1" {
			refused = append(refused, n.Log("a1", 1))
		}
		for _, subject := range refused {
			_ = nc.Publish(subject, []byte("chunk"))
			_ = nc.Flush()
			select {
			case err := <-errs:
				if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
					t.Errorf("%s publishing on %s: %v, want a permissions violation", who, subject, err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("%s publishing on %s: allowed", who, subject)
			}
		}
		if who != "agent a1" {
			continue
		}
		// Its own: stored in the log stream.
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, n.Log("a1", 1), []byte("chunk")); err != nil {
			t.Errorf("agent a1 publishing on its own log subject: %v", err)
		}
	}
}

// An agent's state bridge may ask the host on its own state subject and
// hear back on its own inbox (the answers and a watch's changes); it may
// not ask as another agent, nor may a task ask on an agent's subject.
func TestAgentStateSubject(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	n := agentwire.Names{RunKey: h.RunKey()}
	token, err := h.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.AddAgent("a2", []string{"any"}); err != nil {
		t.Fatal(err)
	}
	// The host's side: answers on a1's subject, and sends a change to
	// the inbox the request names.
	sub, err := h.Conn().Subscribe(n.AnyAgent("state"), func(m *nats.Msg) {
		_ = h.Conn().Publish(string(m.Data), []byte("change"))
		_ = m.Respond([]byte("answer"))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = h.Conn().Flush()

	errs := make(chan error, 16)
	nc, err := nats.Connect(h.URL(), nats.Token(token), nats.CustomInboxPrefix(n.Inbox("a1")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pump := nc.NewInbox()
	changes, err := nc.SubscribeSync(pump)
	if err != nil {
		t.Fatal(err)
	}
	m, err := nc.Request(n.State("a1"), []byte(pump), 10*time.Second)
	if err != nil || string(m.Data) != "answer" {
		t.Fatalf("a1's own state request: %v, %v", m, err)
	}
	if c, err := changes.NextMsg(10 * time.Second); err != nil || string(c.Data) != "change" {
		t.Fatalf("a change to a1's inbox: %v, %v", c, err)
	}

	refused := func(who string, nc *nats.Conn, errs chan error, subject string) {
		t.Helper()
		_ = nc.Publish(subject, []byte("x"))
		_ = nc.Flush()
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
				t.Errorf("%s publishing to %s: %v, want a permissions violation", who, subject, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s publishing to %s: allowed", who, subject)
		}
	}
	refused("a1", nc, errs, n.State("a2"))

	task := h.AddTask("t1", 1, "")
	terrs := make(chan error, 16)
	tc, err := nats.Connect(task.URL, nats.Token(task.Token), nats.CustomInboxPrefix(task.InboxPrefix),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { terrs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	refused("a task", tc, terrs, n.State("a1"))
}
