package agent_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/host/agent"
	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/lab"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/remote"
	"github.com/taskhost/taskhost/internal/testbuild"
	"github.com/taskhost/taskhost/sdk/result"
)

var testpack string

func TestMain(m *testing.M) {
	testbuild.Main(m, map[*string]string{&testpack: "../../internal/testpack"}, nil)
}

// freePort is a loopback port free now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestServeRunAfterRun: one agent, started before any run, serves a run's
// hub at its address, and, once that run is over and its hub gone, the
// next run's hub at the same address: each run's task runs on it and
// passes. An agent whose labels satisfy no class of a run takes none of
// its work.
func TestServeRunAfterRun(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "lab")
	if _, err := lab.Init(dir, nil); err != nil {
		t.Fatal(err)
	}
	tlsConf, err := lab.ServerTLS(dir)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	keys := func() (map[string]string, error) { return map[string]string{"a1": pub}, nil }
	sum, err := launch.HexSHA256(testpack)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- agent.Serve(ctx, agent.ServeConfig{URL: url, Seed: seed, Name: "a1", Labels: map[string]string{"lab": "sjc"},
			Slots: 2, CacheDir: filepath.Join(t.TempDir(), "cache"), HostTimeout: 5 * time.Second})
	}()
	defer func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Serve did not return 30s after its context ended")
		}
	}()

	platform := map[string]string{"os": runtime.GOOS, "arch": runtime.GOARCH}
	for run := 1; run <= 2; run++ {
		labels := map[string]string{"lab": "sjc"}
		for k, v := range platform {
			labels[k] = v
		}
		h, err := hub.Start(hub.Config{StoreDir: t.TempDir(), Agents: &hub.AgentsConfig{
			Listen: fmt.Sprintf("127.0.0.1:%d", port), TLS: tlsConf, Keys: keys,
			Classes: map[string]map[string]string{"sjc": labels, "nyc": {"lab": "nyc"}}}})
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 60*time.Second)
		as := h.WaitAgents(wctx, func(as []hub.AgentInfo) bool { return len(as) == 1 })
		wcancel()
		if len(as) != 1 || as[0].Name != "a1" || len(as[0].Classes) != 1 || as[0].Classes[0] != "sjc" {
			h.Close()
			t.Fatalf("run %d: agents %+v, want a1 in class sjc only", run, as)
		}
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		s, err := remote.NewStarter(sctx, remote.Config{Conn: h.Conn(), RunKey: h.RunKey(), Classes: []string{"sjc", "nyc"},
			ClassOf:    func(c attempt.Call) string { return "sjc" },
			PackPath:   func(string) string { return testpack },
			PackSHA256: func(string) string { return sum }, StateSocket: h.StateSocket()})
		scancel()
		if err != nil {
			h.Close()
			t.Fatal(err)
		}
		r := &attempt.Runner{Starter: s, Hub: h.Attempts(), RunDir: t.TempDir()}
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out := r.Run(rctx, attempt.Call{Pack: "testpack", Task: "pass", Args: []byte(`{}`), RunID: "run", ID: "t1", Attempt: 1},
			attempt.Options{Slot: 1, RecordDir: "tasks/t1"})
		rcancel()
		r.Wait()
		s.Close()
		h.Close()
		if out.Result != result.Passed || out.Agent != "a1" {
			t.Fatalf("run %d: %s (%s) on agent %q, want passed on a1", run, out.Result, out.Reason, out.Agent)
		}
	}
}
