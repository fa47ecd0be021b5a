package sdk

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/internal/eventwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/testtls"
	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
)

// childHelperEnv makes the test binary, run again by a test, the child
// program of TestChildHelperProcess.
const childHelperEnv = "TASKHOST_SDK_TEST_CHILD"

// TestChildHelperProcess is not a test: run again by a test with
// childHelperEnv set, the test binary is a program that a task starts
// with T.Command and that reports one step with RunChild.
func TestChildHelperProcess(t *testing.T) {
	if os.Getenv(childHelperEnv) == "" {
		t.Skip("a child program, run by TestChildReachesTheHubOverTLS")
	}
	RunChild(func(t *T) { t.Step("child step", func(t *T) {}) })
}

// tlsHub starts a hub that takes only TLS, with a certificate that ca
// signed, JetStream and a stream on the subject ev, and returns what a
// task needs to report to it (without the CA) and the stream.
func tlsHub(t *testing.T, ca *testtls.CA) (*packv1.Hub, jetstream.Stream) {
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
	return &packv1.Hub{Url: srv.ClientURL(), Token: "task", EventsSubject: "ev", InboxPrefix: "_in.t1", MsgIdPrefix: "t1.x."}, stream
}

// TestChildReachesTheHubOverTLS: a task that reaches the hub over TLS
// hands its CA to a child it starts with T.Command, and the child's
// step reaches the hub, under the step that started it.
func TestChildReachesTheHubOverTLS(t *testing.T) {
	t.Parallel()
	ca := testtls.New(t)
	hub, stream := tlsHub(t, ca)
	hub.TlsCaPem = ca.PEM
	em, err := emit.Dial(hub, "task x", "")
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	dir := filepath.Join(t.TempDir(), "tasks", "x")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	env := &taskenv.Env{TaskID: "x", Emit: em, PID: os.Getpid(), Hub: hub, LogDir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var c *Cmd
	var childErr error
	res, reason := runTask(ctx, env, hclog.NewNullLogger(), func(t *T) {
		t.Step("start the child", func(t *T) {
			c = t.Command(os.Args[0], "-test.run=^TestChildHelperProcess$")
			c.Env = append(os.Environ(), childHelperEnv+"=1")
			childErr = c.Run()
		})
	})
	if childErr != nil {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(dir)), c.LogFile))
		t.Fatalf("the child: %v; its log:\n%s", childErr, b)
	}
	if res != Passed {
		t.Fatalf("task: %s (%s)", res, reason)
	}
	if _, err := em.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// The stream holds the child's step, sent by the child itself.
	src := "pid-" + strconv.Itoa(c.Process.Pid)
	msgs, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for range info.State.Msgs {
		m, err := msgs.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		evs, err := eventwire.Events(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		for ev := range evs {
			if ev.Src == src && ev.Kind == "start" && ev.Name == "child step" && ev.Parent == "1" {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no start of the child's step from source %s among the hub's %d messages", src, info.State.Msgs)
	}
}
