package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/internal/testtls"
)

// keyList is the agents file of a test: name -> public key.
type keyList struct {
	mu   sync.Mutex
	keys map[string]string
}

func (k *keyList) Keys() (map[string]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]string{}
	for n, p := range k.keys {
		out[n] = p
	}
	return out, nil
}

func (k *keyList) set(name, pub string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pub == "" {
		delete(k.keys, name)
	} else {
		k.keys[name] = pub
	}
}

// newKey makes an agent's key, listed in keys under name.
func newKey(t *testing.T, keys *keyList, name string) nkeys.KeyPair {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	if keys != nil {
		keys.set(name, pubOf(t, kp))
	}
	return kp
}

func pubOf(t *testing.T, kp nkeys.KeyPair) string {
	t.Helper()
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// testClasses are three classes: an agent labelled agentLabels takes
// the work of gpu and linux-amd64, not of win.
var (
	testClasses = map[string]map[string]string{
		"linux-amd64": {"os": "linux", "arch": "amd64"},
		"gpu":         {"os": "linux", "gpu": "yes"},
		"win":         {"os": "windows", "arch": "amd64"},
	}
	agentLabels = map[string]string{"os": "linux", "arch": "amd64", "gpu": "yes", "site": "lab1"}
)

type agentHub struct {
	*Hub
	keys *keyList
	pool *x509.CertPool
	port int
}

// startAgentHub starts a hub open to agents on listen (port 0), its
// certificate good for 127.0.0.1 and ips.
func startAgentHub(t *testing.T, listen string, ips ...net.IP) *agentHub {
	t.Helper()
	ca := testtls.New(t, ips...)
	tlsConf, pool := ca.ServerConfig(), ca.Pool
	keys := &keyList{keys: map[string]string{}}
	h, err := Start(Config{StoreDir: t.TempDir(), Agents: &AgentsConfig{
		Listen: listen, TLS: tlsConf, Keys: keys.Keys, RevokeCheck: 100 * time.Millisecond,
		Classes: testClasses, HostBeat: 3 * time.Second,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	_, p, err := net.SplitHostPort(strings.TrimPrefix(h.URL(), "nats://"))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	if !strings.HasPrefix(h.URL(), "nats://127.0.0.1:") || port <= 0 {
		t.Fatalf("URL %s, want nats://127.0.0.1:<port>", h.URL())
	}
	return &agentHub{Hub: h, keys: keys, pool: pool, port: port}
}

// tlsURL is the hub's TLS URL at ip.
func (h *agentHub) tlsURL(ip string) string {
	return "tls://" + net.JoinHostPort(ip, strconv.Itoa(h.port))
}

// agentOpts are the options an agent connects with: its name and
// labels, its key, the CA (if TLS), and its errors sent to errs (if not
// nil).
func (h *agentHub) agentOpts(name string, labels map[string]string, kp nkeys.KeyPair, tlsOn bool, errs chan error) []nats.Option {
	opts := []nats.Option{
		nats.Name(agentwire.ConnName(name, labels)),
		nats.Nkey(mustPub(kp), kp.Sign),
		nats.CustomInboxPrefix(agentwire.AgentInbox(name)),
		nats.MaxReconnects(0),
		nats.Timeout(5 * time.Second),
	}
	if tlsOn {
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: h.pool, MinVersion: tls.VersionTLS12}))
	}
	if errs != nil {
		opts = append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	}
	return opts
}

func mustPub(kp nkeys.KeyPair) string {
	pub, err := kp.PublicKey()
	if err != nil {
		panic(err)
	}
	return pub
}

// nonLoopbackIP is one of the machine's IPv4 addresses not on loopback.
func nonLoopbackIP(t *testing.T) net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.To4()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address to connect to")
	return nil
}

func wantAuthRefused(t *testing.T, what string, nc *nats.Conn, err error) {
	t.Helper()
	if err == nil {
		nc.Close()
		t.Errorf("%s: connected, want refused", what)
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("%s: %v, want an authorization error", what, err)
	}
}

// On one listener, a client from a non-loopback address must use TLS: a
// task's token and an agent's key are refused in plain there, and let in
// over TLS; from loopback, plain is fine.
func TestAgentsPlainOnlyFromLoopback(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIP(t)
	h := startAgentHub(t, "0.0.0.0:0", ip)
	kp := newKey(t, h.keys, "a1")
	task := h.AddTask("t1", 1, "")
	plainRemote := "nats://" + net.JoinHostPort(ip.String(), strconv.Itoa(h.port))

	nc, err := nats.Connect(h.URL(), nats.Token(task.Token))
	if err != nil {
		t.Fatalf("a task's token, plain from loopback: %v", err)
	}
	nc.Close()
	nc, err = nats.Connect(h.URL(), h.agentOpts("a1", agentLabels, kp, false, nil)...)
	if err != nil {
		t.Fatalf("an agent, plain from loopback: %v", err)
	}
	nc.Close()

	nc, err = nats.Connect(plainRemote, nats.Token(task.Token), nats.MaxReconnects(0))
	wantAuthRefused(t, "a task's token, plain to "+ip.String(), nc, err)
	nc, err = nats.Connect(plainRemote, h.agentOpts("a1", agentLabels, kp, false, nil)...)
	wantAuthRefused(t, "an agent, plain to "+ip.String(), nc, err)

	nc, err = nats.Connect(h.tlsURL(ip.String()), h.agentOpts("a1", agentLabels, kp, true, nil)...)
	if err != nil {
		t.Fatalf("an agent, TLS to %s: %v", ip, err)
	}
	nc.Close()
	nc, err = nats.Connect(h.tlsURL(ip.String()), nats.Token(task.Token), nats.Secure(&tls.Config{RootCAs: h.pool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatalf("a task's token, TLS to %s: %v", ip, err)
	}
	nc.Close()
	// Without the CA, TLS is refused by the client.
	_, err = nats.Connect(h.tlsURL(ip.String()), nats.Token(task.Token), nats.MaxReconnects(0))
	if err == nil {
		t.Errorf("TLS without the CA: connected")
	}
}

// An agent is let in only with its listed key, signed with its seed,
// under its own name.
func TestAgentKeysRefused(t *testing.T) {
	t.Parallel()
	h := startAgentHub(t, "127.0.0.1:0")
	kp := newKey(t, h.keys, "a1")
	newKey(t, h.keys, "a2")
	url := h.tlsURL("127.0.0.1")

	nc, err := nats.Connect(url, h.agentOpts("a1", agentLabels, kp, true, nil)...)
	if err != nil {
		t.Fatalf("a1 with its key: %v", err)
	}
	nc.Close()

	// a1's public key, signed with another seed.
	other := newKey(t, nil, "")
	forged := h.agentOpts("a1", agentLabels, kp, true, nil)
	forged = append(forged, nats.Nkey(mustPub(kp), other.Sign))
	nc, err = nats.Connect(url, forged...)
	wantAuthRefused(t, "a1's public key signed with another seed", nc, err)

	nc, err = nats.Connect(url, h.agentOpts("a1", agentLabels, other, true, nil)...)
	wantAuthRefused(t, "a key not listed", nc, err)
	nc, err = nats.Connect(url, h.agentOpts("a2", agentLabels, kp, true, nil)...)
	wantAuthRefused(t, "a1's key under a2's name", nc, err)
	nc, err = nats.Connect(url, append(h.agentOpts("a1", agentLabels, kp, true, nil), nats.Name("a1"))...)
	wantAuthRefused(t, "a1's key without an agent's connection name", nc, err)
	// None of the refused is in the registry; a1 leaves it as it closed.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := h.WaitAgents(ctx, func(as []AgentInfo) bool { return len(as) == 0 }); len(got) != 0 {
		t.Errorf("Agents() = %v after refusals and a close, want none", got)
	}
}

// An agent may fetch its classes' work and publish on its own subjects;
// another class's work, another agent's subjects and a task's events
// subject are refused.
func TestAgentPermissions(t *testing.T) {
	t.Parallel()
	h := startAgentHub(t, "127.0.0.1:0")
	n := agentwire.Names{RunKey: h.RunKey()}
	kp := newKey(t, h.keys, "a1")
	newKey(t, h.keys, "a2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stream, err := h.js.CreateStream(ctx, jetstream.StreamConfig{Name: n.WorkStream(), Subjects: []string{n.WorkAll()}, Retention: jetstream.WorkQueuePolicy})
	if err != nil {
		t.Fatal(err)
	}
	for class := range testClasses {
		if _, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: agentwire.Consumer(class), FilterSubject: n.Work(class), AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.js.Publish(ctx, n.Work(class), []byte("work of "+class)); err != nil {
			t.Fatal(err)
		}
	}
	dones := make(chan *nats.Msg, 4)
	sub, err := h.Conn().ChanSubscribe(n.AnyAgent("done"), dones)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = h.Conn().Flush()

	errs := make(chan error, 16)
	nc, err := nats.Connect(h.tlsURL("127.0.0.1"), h.agentOpts("a1", agentLabels, kp, true, errs)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, class := range []string{"gpu", "linux-amd64"} {
		m, err := nc.Request(n.Fetch(class), []byte(`{"batch":1,"no_wait":true}`), 10*time.Second)
		if err != nil || string(m.Data) != "work of "+class {
			t.Errorf("a1 fetching %s's work: %v, %v", class, m, err)
		}
	}
	if err := nc.Publish(n.Done("a1"), []byte("done")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-dones:
		if m.Subject != n.Done("a1") {
			t.Errorf("the host got %s, want %s", m.Subject, n.Done("a1"))
		}
	case <-time.After(10 * time.Second):
		t.Errorf("a1's done never reached the host")
	}

	task := h.AddTask("t1", 1, "")
	for _, subject := range []string{n.Fetch("win"), n.Done("a2"), agentwire.HelloSubject("a2"), task.EventsSubject} {
		_ = nc.Publish(subject, []byte("x"))
		_ = nc.Flush()
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subject) {
				t.Errorf("a1 publishing on %s: %v, want a permissions violation", subject, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("a1 publishing on %s: allowed", subject)
		}
	}
	// Another agent's inbox cannot be read.
	if _, err := nc.SubscribeSync(agentwire.AgentInbox("a2") + ".x"); err == nil {
		_ = nc.Flush()
		select {
		case err := <-errs:
			if !errors.Is(err, nats.ErrPermissionViolation) {
				t.Errorf("a1 subscribing to a2's inbox: %v, want a permissions violation", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("a1 subscribing to a2's inbox: allowed")
		}
	}
}

// Hello answers the run's key and exactly the classes the agent's labels
// satisfy (none for an agent that satisfies none).
func TestAgentHello(t *testing.T) {
	t.Parallel()
	h := startAgentHub(t, "127.0.0.1:0")
	for name, tc := range map[string]struct {
		labels map[string]string
		want   []string
	}{
		"a1": {agentLabels, []string{"gpu", "linux-amd64"}},
		"a2": {map[string]string{"os": "linux", "arch": "arm64"}, nil},
		"a3": {map[string]string{"os": "windows", "arch": "amd64"}, []string{"win"}},
	} {
		kp := newKey(t, h.keys, name)
		nc, err := nats.Connect(h.tlsURL("127.0.0.1"), h.agentOpts(name, tc.labels, kp, true, nil)...)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		m, err := nc.Request(agentwire.HelloSubject(name), agentwire.Encode(agentwire.Hello{Version: agentwire.Version, Slots: 2}), 10*time.Second)
		if err != nil {
			t.Fatalf("%s's hello: %v", name, err)
		}
		var reply agentwire.HelloReply
		if err := agentwire.Decode(m.Data, &reply); err != nil {
			t.Fatal(err)
		}
		want := agentwire.HelloReply{Version: agentwire.Version, RunKey: h.RunKey(), Classes: tc.want, HostBeat: 3 * time.Second}
		if diff := cmp.Diff(want, reply); diff != "" {
			t.Errorf("%s's hello reply (-want +got):\n%s", name, diff)
		}
	}
}

// Agents and WaitAgents see an agent connect, with its labels and
// classes, and leave when its connection closes.
func TestAgentsRegistry(t *testing.T) {
	t.Parallel()
	h := startAgentHub(t, "127.0.0.1:0")
	kp := newKey(t, h.keys, "a1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := h.Agents(); len(got) != 0 {
		t.Fatalf("Agents() = %v before any connected", got)
	}
	nc, err := nats.Connect(h.URL(), h.agentOpts("a1", agentLabels, kp, false, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	got := h.WaitAgents(ctx, func(as []AgentInfo) bool { return len(as) == 1 })
	if len(got) != 1 {
		t.Fatalf("WaitAgents: %v, want a1", got)
	}
	a := got[0]
	if a.Name != "a1" || a.Conns != 1 || !strings.HasPrefix(a.Remote, "127.0.0.1:") || a.Since.IsZero() ||
		!cmp.Equal(a.Labels, agentLabels) || !cmp.Equal(a.Classes, []string{"gpu", "linux-amd64"}) {
		t.Errorf("WaitAgents: %+v", a)
	}
	nc.Close()
	got = h.WaitAgents(ctx, func(as []AgentInfo) bool { return len(as) == 0 })
	if len(got) != 0 {
		t.Errorf("after a1 closed its connection, WaitAgents: %v", got)
	}
}

// An agent whose key is no longer listed has its connection closed, and
// cannot connect again.
func TestAgentRevoked(t *testing.T) {
	t.Parallel()
	h := startAgentHub(t, "127.0.0.1:0")
	kp := newKey(t, h.keys, "a1")
	kp2 := newKey(t, h.keys, "a2")
	closed := make(chan struct{})
	opts := append(h.agentOpts("a1", agentLabels, kp, true, nil), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	nc, err := nats.Connect(h.tlsURL("127.0.0.1"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc2, err := nats.Connect(h.tlsURL("127.0.0.1"), h.agentOpts("a2", agentLabels, kp2, true, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := h.WaitAgents(ctx, func(as []AgentInfo) bool { return len(as) == 2 }); len(got) != 2 {
		t.Fatalf("WaitAgents: %v, want a1 and a2", got)
	}

	h.keys.set("a1", "")
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("a1's connection still open 10s after its key was removed")
	}
	nc, err = nats.Connect(h.tlsURL("127.0.0.1"), h.agentOpts("a1", agentLabels, kp, true, nil)...)
	wantAuthRefused(t, "a1 again after its key was removed", nc, err)
	got := h.WaitAgents(ctx, func(as []AgentInfo) bool { return len(as) == 1 })
	if len(got) != 1 || got[0].Name != "a2" || !nc2.IsConnected() {
		t.Errorf("after a1's revocation: Agents %v, a2 connected %v; want a2 alone, connected", got, nc2.IsConnected())
	}
}

func TestAgentsListenAddress(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]string{
		":4222":          "0.0.0.0:4222 local 127.0.0.1",
		"0.0.0.0:4222":   "0.0.0.0:4222 local 127.0.0.1",
		"[::]:4222":      "[::]:4222 local 127.0.0.1",
		"127.0.0.1:4222": "127.0.0.1:4222 local 127.0.0.1",
		"localhost:0":    "127.0.0.1:-1 local 127.0.0.1",
		"[::1]:4222":     "[::1]:4222 local ::1",
		"192.0.2.7:4222": "error: loopback",
		"example.org:1":  "error: IP address",
		"4222":           "error: missing port",
		":http":          "error: bad port",
	} {
		host, port, local, err := listenAddr(listen)
		var got string
		if err != nil {
			got = "error: " + err.Error()
			if after, ok := strings.CutPrefix(want, "error: "); ok && strings.Contains(err.Error(), after) {
				continue
			}
		} else {
			got = net.JoinHostPort(host, strconv.Itoa(port)) + " local " + local
		}
		if got != want {
			t.Errorf("listenAddr(%q) = %s, want %s", listen, got, want)
		}
	}
	if _, err := Start(Config{StoreDir: t.TempDir(), Agents: &AgentsConfig{Listen: "127.0.0.1:0", Keys: (&keyList{}).Keys}}); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("Start without a TLS config: %v, want an error that says so", err)
	}
}
