package python_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/testfault"
	"github.com/taskhost/taskhost/internal/testtls"
	"github.com/taskhost/taskhost/sdk/result"
)

// python3 is the interpreter the SDK is for: Debian's.
const python3 = "/usr/bin/python3"

func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python3); err != nil {
		t.Skip("no " + python3)
	}
}

// hubJSON is a's fields as the Hub message's, for TASKHOST_TEST_HUB.
func hubJSON(t testing.TB, a attempt.HubAccess) string {
	t.Helper()
	b, err := json.Marshal(map[string]string{"url": a.URL, "token": a.Token, "events_subject": a.EventsSubject,
		"inbox_prefix": a.InboxPrefix, "msg_id_prefix": a.MsgIDPrefix, "state_socket": a.StateSocket, "tls_ca_pem": a.CA})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hubScript is a Python script of testdata run against a hub.
func hubScript(t testing.TB, hubEnv string, name string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, python3, append([]string{filepath.Join("testdata", name)}, args...)...)
	cmd.Env = append(os.Environ(), "TASKHOST_TEST_HUB="+hubEnv, "PYTHONDONTWRITEBYTECODE=1")
	return cmd
}

// run runs a script to its end and returns its standard output; it fails
// the test if the script fails.
func run(t testing.TB, hubEnv string, name string, args ...string) string {
	t.Helper()
	cmd := hubScript(t, hubEnv, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// startHub starts the host's hub with faults, and records each task's
// events as the hub applies them.
func startHub(t testing.TB, faults testfault.Faults) (*hub.Hub, *applied) {
	t.Helper()
	ap := &applied{}
	log := hclog.New(&hclog.LoggerOptions{Output: &ap.log, Level: hclog.Warn})
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir(), Faults: faults, OnEvent: ap.add, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h, ap
}

// applied is what the hub applied of the tasks' events, in order, and
// what it logged.
type applied struct {
	mu     sync.Mutex
	events []report.Event
	log    syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (a *applied) add(_ string, ev report.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, ev)
}

// TestEventsArriveOnceInOrder: a Python process reporting 10,000 steps
// (20,001 events) through the SDK's emitter has each of them applied by
// the hub once, in order, and flush says the last is stored; the same
// when the hub drops the task's connections every 1,000 events (the
// batches lost are sent again, those sent twice stored once).
func TestEventsArriveOnceInOrder(t *testing.T) {
	needPython(t)
	t.Parallel()
	const steps = 10_000
	for name, faults := range map[string]testfault.Faults{
		"no faults":           {},
		"dropped every 1,000": {DropEvery: 1000},
		"dropped every 30 ms": {DropInterval: 30 * time.Millisecond},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, ap := startHub(t, faults)
			a := h.AddTask("steps", 1, "")
			out := run(t, hubJSON(t, a), "steps.py", fmt.Sprint(steps))
			if got := strings.TrimSpace(out); got != fmt.Sprint(2*steps+1) {
				t.Fatalf("flush says %s is the last event, want %d", got, 2*steps+1)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := h.WaitTask(ctx, 1, 2*steps+1); err != nil {
				t.Fatalf("not every event applied: %v", err)
			}
			if faults != (testfault.Faults{}) && h.Drops() == 0 {
				t.Fatal("the hub dropped no connection: the test tests nothing")
			}
			ap.mu.Lock()
			defer ap.mu.Unlock()
			if len(ap.events) != 2*steps+1 {
				t.Fatalf("%d events applied, want %d", len(ap.events), 2*steps+1)
			}
			for i, ev := range ap.events {
				if ev.Seq != uint64(i+1) {
					t.Fatalf("event %d applied has seq %d", i+1, ev.Seq)
				}
				if i < 2*steps && i%2 == 0 && ev.Name != fmt.Sprintf("step %d", i/2+1) {
					t.Fatalf("event %d is %q, want step %d", i+1, ev.Name, i/2+1)
				}
			}
			err := h.Tree(1, func(tree *report.Tree) {
				// A tree of many steps spools its oldest ended ones.
				if n := len(tree.Sections) + tree.Spilled(); n != steps || !tree.Ended {
					t.Errorf("the tree has %d steps (ended: %v), want %d, ended", n, tree.Ended, steps)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDialOverTLS: given the hub's CA, the Python emitter reaches a hub
// that takes only TLS, with a tls:// or a nats:// URL, and its events are
// stored; with a CA that did not sign the hub's certificate, or one that
// holds no certificate, dial fails at once, saying why as the Go SDK does;
// without a CA, the hub's certificate is not trusted.
func TestDialOverTLS(t *testing.T) {
	needPython(t)
	t.Parallel()
	ca := testtls.New(t)
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir(), TLSConfig: ca.ServerConfig(), TLSTimeout: 5})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.Secure(&tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	tlsURL := srv.ClientURL()
	if !strings.HasPrefix(tlsURL, "tls://") {
		t.Fatalf("the hub's URL %s is not tls://", tlsURL)
	}
	natsURL := "nats://" + strings.TrimPrefix(tlsURL, "tls://")
	for name, tc := range map[string]struct {
		url, ca string
		want    string
	}{
		"the CA, a tls:// URL":  {url: tlsURL, ca: ca.PEM, want: "ok"},
		"the CA, a nats:// URL": {url: natsURL, ca: ca.PEM, want: "ok"},
		"no CA": {url: natsURL,
			want: "HubError: connect to the hub at " + natsURL + ": [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"},
		"another CA": {url: tlsURL, ca: testtls.New(t).PEM,
			want: "HubError: connect to the hub at " + tlsURL + " over TLS: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable to get local issuer certificate"},
		"a CA that is no PEM": {url: tlsURL, ca: "not a certificate",
			want: "HubError: connect to the hub at " + tlsURL + ": the hub's CA (tls_ca_pem) holds no PEM certificate"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			subject := "ev." + strings.NewReplacer(" ", "_", ".", "_", "/", "_", ":", "_").Replace(name)
			out := run(t, hubJSON(t, attempt.HubAccess{URL: tc.url, CA: tc.ca, EventsSubject: subject,
				InboxPrefix: "_in", MsgIDPrefix: subject + "."}), "dial.py")
			if !strings.HasPrefix(strings.TrimSpace(out), tc.want) {
				t.Fatalf("dial.py says %q, want %q", strings.TrimSpace(out), tc.want)
			}
			if tc.want != "ok" {
				if strings.Contains(tc.want, "over TLS") && !strings.Contains(out, "not signed by the CA the task was given") {
					t.Errorf("dial.py says %q, without what to look at", out)
				}
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := stream.GetLastMsgForSubject(ctx, subject); err != nil {
				t.Errorf("nothing stored: %v", err)
			}
		})
	}
}

// TestRefusedWhenRevoked: once the hub revokes the task's token (its
// attempt ended), the Python emitter stops at once rather than after a
// minute: flush says the hub refuses the task's events for good and from
// which event on none were stored, the task is told once, and a later
// flush says the same.
func TestRefusedWhenRevoked(t *testing.T) {
	needPython(t)
	t.Parallel()
	h, _ := startHub(t, testfault.Faults{})
	a := h.AddTask("revoked", 1, "")
	cmd := hubScript(t, hubJSON(t, a), "revoked.py")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if line != "flushed 2 None\n" {
		t.Fatalf("revoked.py: %q, %v\n%s", line, err, stderr.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Seal(ctx, 1, hub.Close{Result: result.Errored, Reason: "ended", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stdin.Write([]byte("go on\n"))
	rest, _ := io.ReadAll(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("revoked.py: %v\n%s", err, stderr.String())
	}
	refused := "the hub refuses the task's events for good: nats: connection closed: nats: authorization violation" +
		" (its credentials were revoked: the task went over its limits, or its attempt ended)"
	want := "last 2\nerror " + refused + "; events from 3 on were not stored\ntold 1 " + refused + "\nagain 2 True\n"
	if string(rest) != want {
		t.Errorf("revoked.py says\n%s\nwant\n%s", rest, want)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the refusal took %s", d)
	}
}

// TestStateOps: every operation of the Python state client against the
// host's state server does what docs/protocol.md says, with the errors
// of the contract (state_ops.py checks each).
func TestStateOps(t *testing.T) {
	needPython(t)
	t.Parallel()
	h, _ := startHub(t, testfault.Faults{})
	a := h.AddTask("ops", 1, "")
	if out := run(t, hubJSON(t, a), "state_ops.py"); out != "ok\n" {
		t.Fatalf("state_ops.py: %q", out)
	}
}

// TestStateAddUnderDrops: 4 Python processes adding 1 to one counter
// 1,000 times each, while the state server drops every task connection
// every 100 requests (some before their answer), leave it at exactly
// 4,000: no add lost, none applied twice.
func TestStateAddUnderDrops(t *testing.T) {
	needPython(t)
	t.Parallel()
	h, ap := startHub(t, testfault.Faults{DropEvery: 100})
	env := hubJSON(t, h.AddTask("adders", 1, ""))
	var wg sync.WaitGroup
	for range 4 {
		cmd := hubScript(t, env, "state_add.py", "1000")
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("state_add.py: %v\n%s", err, out)
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(ap.log.String(), "dropping every state connection"); n < 10 {
		t.Fatalf("the state server dropped the connections %d times: the test tests little", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	state, err := h.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(state["count"]); got != "4000" {
		t.Errorf("count is %s, want 4000", got)
	}
}

// natsHub starts a NATS server with JetStream (its options changed by
// opts) and a stream on "ev" (its config changed by cfg), and returns the
// hub a task is given for it.
func natsHub(t *testing.T, opts func(*natsserver.Options), cfg func(*jetstream.StreamConfig)) string {
	t.Helper()
	o := &natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: t.TempDir()}
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
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if cfg == nil {
		// No stream: a subscriber takes every batch and never answers.
		if _, err := nc.Subscribe("ev", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	} else {
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sc := jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev"}, Storage: jetstream.FileStorage, Discard: jetstream.DiscardNew}
		cfg(&sc)
		if _, err := js.CreateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	return hubJSON(t, attempt.HubAccess{URL: srv.ClientURL(), EventsSubject: "ev", InboxPrefix: "_in.t1", MsgIDPrefix: "t1.x."})
}

// TestRefusedForGood: when the hub's answer to a batch is final (a batch
// larger than the server or the stream takes, the run's stream full), the
// Python emitter stops at once: flush says why and from which event on
// none were stored, and the task is told once.
func TestRefusedForGood(t *testing.T) {
	needPython(t)
	t.Parallel()
	for name, tc := range map[string]struct {
		opts func(*natsserver.Options)
		cfg  func(*jetstream.StreamConfig)
		data int
		want string
	}{
		"the stream's largest message": {cfg: func(c *jetstream.StreamConfig) { c.MaxMsgSize = 4 << 10 }, data: 8 << 10,
			want: "a batch larger than the hub takes: nats: API error: code=400 err_code=10054"},
		"the server's largest message": {opts: func(o *natsserver.Options) { o.MaxPayload = 4 << 10 }, cfg: func(*jetstream.StreamConfig) {},
			data: 8 << 10, want: "a batch larger than the hub takes: nats: maximum payload exceeded"},
		"the stream full": {cfg: func(c *jetstream.StreamConfig) { c.MaxBytes = 16 << 10 }, data: 1 << 10,
			want: "the run's stream is full (max_run_bytes): nats: API error: code=503 err_code=10077 description=maximum bytes exceeded"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := run(t, natsHub(t, tc.opts, tc.cfg), "refused.py", fmt.Sprint(tc.data))
			lines := strings.Split(out, "\n")
			if len(lines) < 4 || lines[0] != "first 3 None" || lines[3] != "told 1" {
				t.Fatalf("refused.py says\n%s", out)
			}
			var last int
			fmt.Sscanf(lines[1], "last %d", &last)
			if last < 3 || last >= 53 {
				t.Errorf("flush says event %d is the last stored", last)
			}
			want := fmt.Sprintf("error the hub refuses the task's events for good: %s", tc.want)
			if !strings.HasPrefix(lines[2], want) || !strings.HasSuffix(lines[2], fmt.Sprintf("; events from %d on were not stored", last+1)) {
				t.Errorf("flush: %s\nwant %s…; events from %d on were not stored", lines[2], want, last+1)
			}
		})
	}
}

// TestGivesUpOnASilentHub: a Python task reporting to a hub that never
// acknowledges anything is not held forever: once nothing was
// acknowledged for ACK_WAIT, emit stops waiting and drops what follows,
// and flush says so at once, with no event stored.
func TestGivesUpOnASilentHub(t *testing.T) {
	needPython(t)
	t.Parallel()
	out := run(t, natsHub(t, nil, nil), "refused.py", "0", "0.3")
	want := "last 0\nerror events from 1 on not acknowledged by the hub: none acknowledged for 300ms; "
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "later events were not sent\ntold 0\n") {
		t.Errorf("refused.py says\n%s\nwant\n%s… later events were not sent", out, want)
	}
}

// TestPythonUnitTests runs every Python unit test of the SDK
// (tests/test_*.py: the core, the transport, the hub side, the build),
// so that go test runs them too; test_sdktest's need a taskhost and run
// in TestSdktest.
func TestPythonUnitTests(t *testing.T) {
	needPython(t)
	t.Parallel()
	out, err := exec.Command(python3, "-m", "unittest", "discover", "-s", "tests", "-t", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\nOK") {
		t.Fatalf("the Python unit tests did not say OK:\n%s", out)
	}
}
