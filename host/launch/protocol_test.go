package launch_test

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/packwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/testtls"
)

// TestProtocolNegotiation: the host offers every version it speaks, and
// go-plugin agrees on the highest the pack speaks too: 2 with a pack of
// this SDK, 1 with a pack that speaks only 1. Each describes itself with
// the versions it speaks.
func TestProtocolNegotiation(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		path     string
		version  int
		describe []int32
	}{
		"this SDK":            {path: demo, version: protocol.Version, describe: []int32{1, 2}},
		"an SDK of version 1": {path: v1pack, version: 1, describe: []int32{1}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := launch.Start(context.Background(), launch.Config{Path: tc.path})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			if got := p.ProtocolVersion(); got != tc.version {
				t.Errorf("negotiated version %d, want %d", got, tc.version)
			}
			d, err := p.Describe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(d.ProtocolVersions, tc.describe) {
				t.Errorf("described versions %v, want %v", d.ProtocolVersions, tc.describe)
			}
		})
	}
}

// TestVersion1PackRuns: a pack built with an SDK that speaks only
// protocol 1 still runs a task on the host, reporting to the run's hub;
// a call that would reach the hub over TLS is refused before it reaches
// such a pack, which would ignore the CA.
func TestVersion1PackRuns(t *testing.T) {
	t.Parallel()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	p, err := launch.Start(context.Background(), launch.Config{Path: v1pack})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	remote := attempt.Call{Task: "pass", Args: []byte(`{}`), RunID: "run", ID: "t0", Attempt: 1, Hub: h.AddTask("t0", 0, "")}
	remote.Hub.CA = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"
	if _, err := p.Run(ctx, packwire.RunRequest(remote)); !errors.Is(err, launch.ErrHubTLSUnsupported) {
		t.Errorf("a call over TLS to a version 1 pack: %v, want ErrHubTLSUnsupported", err)
	}

	c := attempt.Call{Task: "pass", Args: []byte(`{}`), RunID: "run", ID: "t1", Attempt: 1, Hub: h.AddTask("t1", 1, "")}
	resp, err := p.Run(ctx, packwire.RunRequest(c))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetResult() != "passed" {
		t.Fatalf("result %q (%s), want passed", resp.GetResult(), resp.GetReason())
	}
	if err := h.WaitTask(ctx, 1, resp.GetLastSeq()); err != nil {
		t.Fatal(err)
	}
	var steps []string
	if err := h.Tree(1, func(tr *report.Tree) {
		for _, n := range tr.Sections {
			steps = append(steps, n.Name)
		}
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(steps, "ok") {
		t.Errorf("the hub holds steps %v, want the task's step ok", steps)
	}
}

// TestNoSharedVersion: a pack that speaks no version the host speaks is
// not a pack to this host, and the error says both sides' versions, the
// host's in order (go-plugin lists them in a map's order).
func TestNoSharedVersion(t *testing.T) {
	t.Parallel()
	for range 20 { // go-plugin orders the versions anew each time
		_, err := launch.Start(context.Background(), launch.Config{Path: otherproto})
		if !errors.Is(err, launch.ErrNotAPack) {
			t.Fatalf("start: %v, want ErrNotAPack", err)
		}
		if want := "Plugin version: 99, Client versions: [1 2] (the pack speaks pack protocol 99, this taskhost speaks [1 2]: rebuild the pack"; !strings.Contains(err.Error(), want) {
			t.Fatalf("start: %v\nwant %q", err, want)
		}
	}
}

// TestPackOverTLS: a pack that serves the protocol over TLS speaks a
// transport this host does not. The host says so with the versions of
// both sides and what to do, and does not crash: whether the pack sends
// its certificate on the handshake line (go-plugin's AutoMTLS), which
// the host sees at the start, or takes only TLS without saying so, which
// the host sees at its first call.
func TestPackOverTLS(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  []string
		want []string
	}{
		"with its certificate on the handshake line": {
			want: []string{"the pack serves pack protocol 1 over TLS", "this taskhost speaks pack protocol [1 2] without TLS", "rebuild the pack with this taskhost's SDK"},
		},
		"without a word": {
			env:  []string{"TLSPROTO_PROVIDER=1"},
			want: []string{"the pack does not answer pack protocol 1 without TLS: it serves it over TLS", "this taskhost speaks pack protocol [1 2] without TLS", "rebuild the pack with this taskhost's SDK"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := launch.Describe(context.Background(), launch.Config{Path: tlsproto, Env: tc.env})
			if !errors.Is(err, launch.ErrNotAPack) {
				t.Fatalf("describe: %v, want ErrNotAPack", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("describe: %v\nwant %q", err, want)
				}
			}
		})
	}
}

// TestHostOverTLS: a host that dials its packs over TLS, handing them
// the key pairs in TASKHOST_PACK_TLS, and speaks only version 1 (as
// development builds of the host once did) meets a pack of this SDK. The
// pack does not serve it version 1 in plain text, so the host reports the
// versions of both sides instead of a TLS error.
func TestHostOverTLS(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(demo)
	cmd.Env = append(os.Environ(), protocol.TLSHostEnv+`={"server_name":"localhost"}`)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  protocol.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{1: protocol.PluginSets(nil)[1]},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		TLSConfig:        &tls.Config{ServerName: "localhost", MinVersion: tls.VersionTLS13},
		Logger:           hclog.NewNullLogger(),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err == nil {
		var raw any
		if raw, err = rpc.Dispense(protocol.PluginName); err == nil {
			_, err = raw.(packv1.PackClient).Describe(context.Background(), &packv1.DescribeRequest{})
		}
	}
	if err == nil {
		t.Fatal("a host that speaks only version 1 over TLS started a pack of this SDK")
	}
	if want := "incompatible api version with plugin. plugin version: 2, client versions: [1]"; !strings.Contains(strings.ToLower(err.Error()), want) {
		t.Errorf("the host's error: %v\nwant %q", err, want)
	}
}

// tlsHub starts a NATS server that takes only TLS, with a certificate
// that ca signed, and a JetStream stream on the subject ev, and returns
// the hub access of a task that reports there (without the CA) and the
// stream.
func tlsHub(t *testing.T, ca *testtls.CA) (attempt.HubAccess, jetstream.Stream) {
	t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), Authorization: "task", TLSConfig: ca.ServerConfig(), TLSTimeout: 5})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.Token("task"), nats.Secure(ca.ClientConfig()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return attempt.HubAccess{URL: srv.ClientURL(), Token: "task", EventsSubject: "ev", InboxPrefix: "_in.t1", MsgIDPrefix: "t1.x."}, stream
}

// TestTaskOverTLS: a pack of this SDK, called with the hub's CA, runs its
// task against a hub that takes only TLS and its events are stored;
// called with a CA that holds no certificate, or one that did not sign
// the hub's, the call fails at once and says why.
func TestTaskOverTLS(t *testing.T) {
	t.Parallel()
	ca := testtls.New(t)
	access, stream := tlsHub(t, ca)
	for name, tc := range map[string]struct {
		ca   string
		want string // in the call's error; "" for the task to pass
	}{
		"the hub's CA":        {ca: ca.PEM},
		"another CA":          {ca: testtls.New(t).PEM, want: "not signed by the CA the task was given"},
		"a CA that is no PEM": {ca: "not a certificate", want: "the hub's CA (tls_ca_pem) holds no PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := launch.Start(context.Background(), launch.Config{Path: demo})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c := attempt.Call{Task: "hello", Args: []byte(`{"name":"agent"}`), RunID: "run", ID: "t1", Attempt: 1, Hub: access}
			c.Hub.CA = tc.ca
			resp, err := p.Run(ctx, packwire.RunRequest(c))
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("run: %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetResult() != "passed" || resp.GetLastSeq() == 0 {
				t.Fatalf("result %q (%s), last event %d; want passed", resp.GetResult(), resp.GetReason(), resp.GetLastSeq())
			}
			if _, err := stream.GetLastMsgForSubject(ctx, "ev"); err != nil {
				t.Errorf("nothing stored: %v", err)
			}
		})
	}
}
