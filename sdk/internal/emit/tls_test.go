package emit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/testtls"
)

// TestDialOverTLS: a task given the hub's CA reaches a hub that takes
// only TLS, with a tls:// or a nats:// URL, and its events are stored;
// without the CA it is refused; with a CA that did not sign the hub's
// certificate, or one that holds no certificate, Dial fails at once and
// says why.
func TestDialOverTLS(t *testing.T) {
	t.Parallel()
	ca := testtls.New(t)
	_, _, hub, stream := jetStreamHub(t, func(o *natsserver.Options) {
		o.TLSConfig = ca.ServerConfig()
		o.TLSConfig.RootCAs = ca.Pool // for the test's own connection
		o.TLSTimeout = 5
	}, nil)
	if !strings.HasPrefix(hub.GetUrl(), "tls://") {
		t.Fatalf("the hub's URL %s is not tls://", hub.GetUrl())
	}
	with := func(url, caPEM string) *packv1.Hub {
		h := &packv1.Hub{Url: url, Token: hub.GetToken(), EventsSubject: hub.GetEventsSubject(),
			InboxPrefix: hub.GetInboxPrefix(), MsgIdPrefix: hub.GetMsgIdPrefix(), TlsCaPem: caPEM}
		return h
	}
	natsURL := "nats://" + strings.TrimPrefix(hub.GetUrl(), "tls://")
	for name, tc := range map[string]struct {
		hub  *packv1.Hub
		want string // in Dial's error; "" to connect and publish
		is   error
	}{
		"the CA, a tls:// URL":  {hub: with(hub.GetUrl(), ca.PEM)},
		"the CA, a nats:// URL": {hub: with(natsURL, ca.PEM)},
		"no CA":                 {hub: with(natsURL, ""), want: "certificate signed by unknown authority"},
		"another CA":            {hub: with(hub.GetUrl(), testtls.New(t).PEM), want: "not signed by the CA the task was given"},
		"a CA that is no PEM":   {hub: with(hub.GetUrl(), "not a certificate"), is: ErrBadCA, want: "holds no PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var em *Hub
			var err error
			within(t, 30*time.Second, "dial", func() { em, err = Dial(tc.hub, "tls "+name, name) })
			if tc.want != "" || tc.is != nil {
				if err == nil {
					em.Close()
					t.Fatal("dialled, want refused")
				}
				if !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
					t.Fatalf("dial: %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer em.Close()
			for range 3 {
				em.Emit(report.Event{Kind: report.KindStart, ID: "1", Name: "a step", Type: report.TypeStep})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if last, err := em.Flush(ctx); err != nil || last != 3 {
				t.Fatalf("flush: %d, %v", last, err)
			}
			if _, err := stream.GetLastMsgForSubject(ctx, hub.GetEventsSubject()); err != nil {
				t.Errorf("nothing stored: %v", err)
			}
		})
	}
}
