package hub

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/mask"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// TestEventsMasked: what a task sends with a sensitive value in a step's
// name, reason and data (a key too) reaches neither its tree nor OnEvent;
// a value added to the Masker during the run is masked from then on.
func TestEventsMasked(t *testing.T) {
	t.Parallel()
	m := mask.New("hunter2")
	var mu sync.Mutex
	var seen []report.Event
	h, err := Start(Config{StoreDir: t.TempDir(), Mask: m, OnEvent: func(_ string, ev report.Event) {
		mu.Lock()
		seen = append(seen, ev)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	a := h.AddTask("a", 1, "")
	nc, err := nats.Connect(a.URL, nats.Token(a.Token), nats.CustomInboxPrefix(a.InboxPrefix))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	now := time.Now()
	m.Add("later-secret")
	evs := batch(
		report.Event{Seq: 1, Kind: report.KindStart, ID: "1", Name: "login as admin/hunter2", Type: report.TypeStep, Time: now},
		report.Event{Seq: 2, Kind: report.KindEnd, ID: "1", Result: result.Failed, Reason: "hunter2 refused; later-secret too",
			Data: []byte(`{"token":"hunter2","hunter2":["\u0068unter2", 1]}`), Time: now},
		report.Event{Seq: 3, Kind: report.KindEnd, Result: result.Failed, Reason: "bad password hunter2", Time: now},
	)
	if _, err := js.Publish(ctx, a.EventsSubject, evs, jetstream.WithMsgID(a.MsgIDPrefix+"1-3")); err != nil {
		t.Fatal(err)
	}
	if err := h.WaitTask(ctx, 1, 3); err != nil {
		t.Fatal(err)
	}
	var step *report.Node
	var own report.Outcome
	_ = h.Tree(1, func(tr *report.Tree) { step, own = tr.Sections[0], tr.Own })
	if step.Name != "login as admin/(sensitive)" {
		t.Errorf("step name %q", step.Name)
	}
	if step.Result.Reason != "(sensitive) refused; (sensitive) too" || own.Reason != "bad password (sensitive)" {
		t.Errorf("reasons %q, %q", step.Result.Reason, own.Reason)
	}
	if got := string(step.Result.Data); got != `{"token":"(sensitive)","(sensitive)":["(sensitive)",1]}` {
		t.Errorf("data %s", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, ev := range seen {
		if s := ev.Name + ev.Reason + string(ev.Data); strings.Contains(s, "hunter2") || strings.Contains(s, "later-secret") {
			t.Errorf("OnEvent got an event with the value: %+v", ev)
		}
	}
	if len(seen) != 3 {
		t.Errorf("OnEvent got %d events, want 3", len(seen))
	}
}
