package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/packwire"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/testbuild"
	"github.com/taskhost/taskhost/sdk/result"
)

// The programs the cluster's tests start, built at their first use (the
// package's other tests need neither): nats-server, from the module the
// project requires, and the test pack.
var (
	progDir   string
	buildOnce sync.Once
	buildErr  error
	natsBin   string
	packBin   string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "taskhost-hub-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	progDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func programs(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		natsBin, packBin = filepath.Join(progDir, "nats-server"), filepath.Join(progDir, "testpack")
		if buildErr = testbuild.Build(natsBin, "github.com/nats-io/nats-server/v2"); buildErr == nil {
			buildErr = testbuild.Build(packBin, "../../internal/testpack")
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}

// cluster is three nats-server processes on loopback, routed to each
// other, with JetStream, and the authorization block of one host's keys.
type cluster struct {
	t          *testing.T
	urls       []string
	cmds       []*exec.Cmd
	hostSeed   []byte
	issuerSeed []byte
	mu         sync.Mutex
	killed     map[int]bool
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	programs(t)
	hostKey, _ := nkeys.CreateUser()
	issuerKey, _ := nkeys.CreateAccount()
	c := &cluster{t: t, killed: map[int]bool{}}
	c.hostSeed, _ = hostKey.Seed()
	c.issuerSeed, _ = issuerKey.Seed()
	hostPub, _ := hostKey.PublicKey()
	issuerPub, _ := issuerKey.PublicKey()
	auth := hub.ClusterConfig([]string{hostPub}, issuerPub)
	const n = 3
	ports, routes := make([]int, n), make([]int, n)
	for i := range n {
		ports[i], routes[i] = freePort(t), freePort(t)
		c.urls = append(c.urls, "nats://127.0.0.1:"+strconv.Itoa(ports[i]))
	}
	dir := t.TempDir()
	for i := range n {
		var rs []string
		for j := range n {
			if j != i {
				rs = append(rs, fmt.Sprintf("nats-route://127.0.0.1:%d", routes[j]))
			}
		}
		conf := fmt.Sprintf(`server_name: n%d
listen: "127.0.0.1:%d"
jetstream { store_dir: %q, max_memory_store: 64MB, max_file_store: 1TB }
cluster { name: th, listen: "127.0.0.1:%d", routes: [%s] }
%s`, i+1, ports[i], filepath.Join(dir, fmt.Sprintf("n%d", i+1)), routes[i], strings.Join(rs, ", "), auth)
		path := filepath.Join(dir, fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(natsBin, "-c", path)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c.cmds = append(c.cmds, cmd)
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(log.Name())
				t.Logf("node n%d's log (its last 3000 bytes):\n%s", i+1, tail(b, 3000))
			}
		})
	}
	c.waitReady()
	return c
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// conn is a connection of the host's user, which may do anything.
func (c *cluster) conn() *nats.Conn {
	c.t.Helper()
	kp, err := nkeys.FromSeed(c.hostSeed)
	if err != nil {
		c.t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	nc, err := nats.Connect(strings.Join(c.urls, ","), nats.Nkey(pub, kp.Sign), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nc.Close)
	return nc
}

// waitReady waits until the cluster's JetStream makes a replicated
// stream (its meta leader elected, its nodes' JetStream up).
func (c *cluster) waitReady() {
	c.t.Helper()
	var nc *nats.Conn
	deadline := time.Now().Add(60 * time.Second)
	for nc == nil {
		kp, _ := nkeys.FromSeed(c.hostSeed)
		pub, _ := kp.PublicKey()
		var err error
		nc, err = nats.Connect(strings.Join(c.urls, ","), nats.Nkey(pub, kp.Sign))
		if err != nil {
			if time.Now().After(deadline) {
				c.t.Fatalf("the cluster did not take connections within 60s: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		c.t.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "READY", Subjects: []string{"ready"}, Replicas: 3})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the cluster's JetStream was not ready within 60s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = js.DeleteStream(ctx, "READY")
}

// kill kills (SIGKILL) the node named name ("n1").
func (c *cluster) kill(name string) error {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "n"))
	if err != nil || i < 1 || i > len(c.cmds) {
		return fmt.Errorf("no node %q", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killed[i-1] = true
	return c.cmds[i-1].Process.Kill()
}

func (c *cluster) hub(t *testing.T, cfg hub.Config) *hub.Hub {
	t.Helper()
	cfg.StoreDir = t.TempDir()
	cfg.External = &hub.ExternalConfig{URLs: strings.Join(c.urls, ","), HostSeed: c.hostSeed, IssuerSeed: c.issuerSeed}
	h, err := hub.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// packStarter starts the test pack for each call.
type packStarter struct{}

func (packStarter) Start(ctx context.Context, _ attempt.Call, out io.Writer) (attempt.Pack, error) {
	p, err := launch.Start(ctx, launch.Config{Path: packBin, Stderr: out})
	if err != nil {
		return nil, err
	}
	return launchedPack{p}, nil
}

type launchedPack struct{ *launch.Process }

func (p launchedPack) Run(ctx context.Context, c attempt.Call) (attempt.Reply, error) {
	return packwire.Run(ctx, p.Process.Run, c)
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

// TestClusterNodeKilled: a run's hub on a three-node cluster, its tasks
// reporting many steps and adding to a counter in the shared state; the
// node that leads the run's event stream is killed (SIGKILL) while they
// run. Every task passes, each step is in its record exactly once, and
// the counter is exact.
func TestClusterNodeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := startCluster(t)
	var events atomic.Int64
	killAt := make(chan struct{})
	var once sync.Once
	const steps, tasks, adds = 1500, 4, 400
	h := c.hub(t, hub.Config{OnEvent: func(string, report.Event) {
		if events.Add(1) == steps/2 {
			once.Do(func() { close(killAt) })
		}
	}})
	stream := hub.ExternalStreamName(h.RunKey())

	// The stream's leader is killed once the hub has read a part of the
	// tasks' events.
	js, err := jetstream.New(c.conn())
	if err != nil {
		t.Fatal(err)
	}
	var killedAt int64
	var killTime time.Time
	killed := make(chan error, 1)
	go func() {
		select {
		case <-killAt:
		case <-time.After(2 * time.Minute):
			killed <- errors.New("the tasks did not send enough events")
			return
		}
		killedAt, killTime = events.Load(), time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			killed <- err
			return
		}
		info, err := s.Info(ctx)
		if err != nil {
			killed <- err
			return
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			killed <- fmt.Errorf("the stream's cluster: %+v, want a leader and 2 replicas", info.Cluster)
			return
		}
		t.Logf("killing the stream's leader %s, after %d events", info.Cluster.Leader, killedAt)
		killed <- c.kill(info.Cluster.Leader)
	}()

	r := &attempt.Runner{Starter: packStarter{}, Hub: h.Attempts(), RunDir: t.TempDir()}
	defer r.Wait()
	type run struct {
		out attempt.Outcome
		log *syncBuffer
	}
	runs := make([]run, tasks+1)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			call := attempt.Call{Pack: "testpack", Task: "many", Args: []byte(fmt.Sprintf(`{"n":%d}`, steps)),
				RunID: "run", ID: fmt.Sprintf("m%d", i), Attempt: 1}
			if i == tasks {
				call.Task, call.Args, call.ID = "count", []byte(fmt.Sprintf(`{"n":%d,"key":"c"}`, adds)), "count"
			}
			runs[i].log = &syncBuffer{}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			runs[i].out = r.Run(ctx, call, attempt.Options{Slot: i + 1, Out: runs[i].log})
		}()
	}
	wg.Wait()
	if err := <-killed; err != nil {
		t.Fatalf("kill the stream's leader: %v", err)
	}
	if total := events.Load(); killedAt >= total {
		t.Fatalf("the node was killed after the tasks' events were all read (%d of %d)", killedAt, total)
	}
	t.Logf("the tasks ended %s after the kill", time.Since(killTime).Round(100*time.Millisecond))
	for i, rn := range runs {
		if rn.out.Result != result.Passed {
			t.Errorf("task %d: %s: %s\nlog:\n%s", i, rn.out.Result, rn.out.Reason, rn.log.String())
			continue
		}
		if i == tasks {
			continue
		}
		seen := map[string]int{}
		for _, n := range rn.out.Sections {
			seen[n.Name]++
		}
		for s := 1; s <= steps; s++ {
			if k := seen["s"+strconv.Itoa(s)]; k != 1 {
				t.Errorf("task %d: step s%d is in its record %d times, want once", i, s, k)
			}
		}
		if len(rn.out.Sections) != steps {
			t.Errorf("task %d: %d steps in its record, want %d", i, len(rn.out.Sections), steps)
		}
	}
	state, err := h.State(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := json.Unmarshal(state["c"], &n); err != nil || n != adds {
		t.Errorf("counter %s, want %d", state["c"], adds)
	}
}

// TestClusterRefusals: the cluster lets in a task's token as the hub gave
// it, with its permissions, and refuses a token that no hub gave; a
// task's token cannot publish on another task's subject, and is refused
// once its attempt is sealed.
func TestClusterRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := startCluster(t)
	h := c.hub(t, hub.Config{})
	urls := strings.Join(c.urls, ",")

	if nc, err := nats.Connect(urls, nats.Token("not-a-token"), nats.MaxReconnects(0), nats.Timeout(10*time.Second)); err == nil {
		nc.Close()
		t.Errorf("a token no hub gave was let in")
	}

	a1, a2 := h.AddTask("a", 1, ""), h.AddTask("b", 2, "")
	errs := make(chan error, 10)
	nc, err := nats.Connect(urls, nats.Token(a1.Token), nats.CustomInboxPrefix(a1.InboxPrefix),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("the task's own token: %v", err)
	}
	defer nc.Close()
	// Its own subject: stored (JetStream answers on its inbox).
	if _, err := nc.Request(a1.EventsSubject, []byte("{}"), 10*time.Second); err != nil {
		t.Errorf("publish on its own subject: %v", err)
	}
	select {
	case err := <-errs:
		t.Errorf("publish on its own subject: %v", err)
	default:
	}
	if err := nc.Publish(a2.EventsSubject, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) && !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
			t.Errorf("publish on another task's subject: %v, want a permissions violation", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("publish on another task's subject: no permissions violation")
	}

	// Once the attempt is sealed, its token is refused (on a cluster the
	// hub cannot close the connection it has: the ledger takes nothing
	// more of it).
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Seal(ctx, 1, hub.Close{Result: result.Passed}); err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(urls, nats.Token(a1.Token), nats.MaxReconnects(0), nats.Timeout(10*time.Second)); err == nil {
		nc.Close()
		t.Errorf("a sealed attempt's token was let in")
	}
}
