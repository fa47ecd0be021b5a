package statebridge

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/internal/statekv"
)

// A Front that stops listening to a watch without its close reaching the
// Responder (the close was lost) has the watch's connection to the server
// closed all the same, at the next keepalive; and a request on a
// connection the Responder does not know is answered "gone", not
// forwarded.
func TestResponderEndsAbandonedWatch(t *testing.T) {
	t.Parallel()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	s, err := NewResponder(ResponderConfig{Conn: h.Conn(), RunKey: h.RunKey(), Socket: h.StateSocket()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	token, err := h.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	n := agentwire.Names{RunKey: h.RunKey()}
	nc, err := nats.Connect(h.URL(), nats.Token(token), nats.CustomInboxPrefix(n.Inbox("a1")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ask := func(q statekv.Request, header map[string]string) *nats.Msg {
		t.Helper()
		m := nats.NewMsg(n.State("a1"))
		m.Header.Set(hConn, "c1")
		for k, v := range header {
			m.Header.Set(k, v)
		}
		m.Data = statekv.AppendRequest(nil, &q)[4:]
		a, err := nc.RequestMsg(m, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := ask(statekv.Request{Op: statekv.OpGet, Key: "k"}, nil); a.Header.Get(hGone) == "" {
		t.Fatalf("a request on an unknown connection: %q, want gone", a.Data)
	}
	if a := ask(statekv.Request{Op: statekv.OpHello, Key: h.AddTask("t1", 1, "").Token, Holder: "w"}, map[string]string{hOpen: "1"}); a.Header.Get(hGone) != "" {
		t.Fatal("hello: gone")
	}
	pump := nc.NewInbox()
	sub, err := nc.SubscribeSync(pump)
	if err != nil {
		t.Fatal(err)
	}
	a := ask(statekv.Request{Op: statekv.OpWatch, Key: "w."}, map[string]string{hPump: pump})
	if p, err := statekv.DecodeResponse(a.Data); err != nil || p.Status != statekv.StatusOK {
		t.Fatalf("watch: %+v, %v", p, err)
	}
	if s.Conns("a1") != 1 {
		t.Fatalf("%d connections kept for a1, want 1", s.Conns("a1"))
	}
	_ = sub.Unsubscribe() // and no close
	deadline := time.Now().Add(30 * time.Second)
	for s.Conns("a1") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the responder kept the watch of a front that went away")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
