package statebridge

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/internal/statekv"
)

// A watch whose pump goes silent (no change, no keepalive: the host's
// side is stuck or its messages are lost) is closed by the Front, for the
// task to open it again; the Front does not wait on it for ever. The
// host's side here answers the hello and the watch and then says nothing.
func TestFrontClosesSilentWatch(t *testing.T) {
	t.Parallel()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	n := agentwire.Names{RunKey: h.RunKey()}
	sub, err := h.Conn().Subscribe(n.State("a1"), func(m *nats.Msg) {
		if m.Reply != "" {
			_ = m.Respond(statekv.AppendResponse(nil, &statekv.Response{Status: statekv.StatusOK})[4:])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	token, err := h.AddAgent("a1", []string{"any"})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(h.URL(), nats.Token(token), nats.CustomInboxPrefix(n.Inbox("a1")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	f, err := NewFront(FrontConfig{Conn: nc, RunKey: h.RunKey(), Agent: "a1", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)

	c, err := net.Dial("unix", f.Socket())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	for _, q := range []statekv.Request{{Op: statekv.OpHello, Key: "t", Holder: "w"}, {Op: statekv.OpWatch, Key: "w."}} {
		if _, err := c.Write(statekv.AppendRequest(nil, &q)); err != nil {
			t.Fatal(err)
		}
		if _, err := statekv.ReadFrame(r, nil); err != nil {
			t.Fatalf("%c: %v", q.Op, err)
		}
	}
	if _, err := statekv.ReadFrame(r, nil); !errors.Is(err, io.EOF) {
		t.Fatalf("a silent watch: %v, want it closed", err)
	}
}
