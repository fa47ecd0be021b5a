package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/internal/testbuild"
)

// The programs of the agents' test on a cluster, built at its first use:
// taskhost itself (the host and the agents) and the pack its tasks run.
var (
	agentProgsOnce sync.Once
	agentProgsErr  error
	taskhostBin    string
	agentPackBin   string
)

func agentPrograms(t *testing.T) {
	t.Helper()
	programs(t)
	agentProgsOnce.Do(func() {
		taskhostBin, agentPackBin = filepath.Join(progDir, "taskhost"), filepath.Join(progDir, "agentpack")
		if agentProgsErr = testbuild.Build(taskhostBin, "../../cmd/taskhost"); agentProgsErr == nil {
			agentProgsErr = testbuild.Build(agentPackBin, "../../internal/testpack/agentpack")
		}
	})
	if agentProgsErr != nil {
		t.Fatal(agentProgsErr)
	}
}

// clusterAgent is a `taskhost agent` process pointed at the cluster.
type clusterAgent struct {
	name string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func startClusterAgent(t *testing.T, c *cluster, name, seed, labels string) *clusterAgent {
	t.Helper()
	a := &clusterAgent{name: name, log: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(taskhostBin, "agent", "--hub", strings.Join(c.urls, ","), "--name", name, "--key", seed,
		"--labels", labels, "--cache", filepath.Join(t.TempDir(), "cache"), "--host-timeout", "2s", "--log-level", "debug")
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			_ = a.cmd.Process.Kill()
			<-a.done
		}
		if t.Failed() {
			t.Logf("agent %s's log:\n%s", name, lastLines([]byte(a.log.String()), 40))
		}
	})
	return a
}

// taskhostCmd runs taskhost with args, and returns its exit code and
// output.
func taskhostCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(taskhostBin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

// clusterJob writes a jobfile of the agentpack's work tasks, each placed
// on the lab label given (or on the host, for ""), and returns its path.
func clusterJob(t *testing.T, tasks map[string]string) string {
	t.Helper()
	src := fmt.Sprintf("job \"cluster\" {}\npack \"agentpack\" { path = %q }\n", agentPackBin)
	for id, lab := range tasks {
		placement := "placement {\n    local = true\n  }"
		if lab != "" {
			placement = fmt.Sprintf("placement {\n    labels = { lab = %q }\n  }", lab)
		}
		src += fmt.Sprintf("task %q {\n  pack = \"agentpack\"\n  task = \"work\"\n  args = { name = %q, lines = 3 }\n  %s\n}\n", id, id, placement)
	}
	path := filepath.Join(t.TempDir(), "job.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ranOn reads the run directory's results.json: each task's agent, "" on
// the host.
func ranOn(t *testing.T, runsDir string) (map[string]string, string) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(runsDir, "*", "results.json"))
	if len(dirs) != 1 {
		t.Fatalf("%d run directories with a results.json in %s, want 1", len(dirs), runsDir)
	}
	b, err := os.ReadFile(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Report struct {
			Tasks []struct {
				ID    string `json:"id"`
				Agent string `json:"agent"`
			} `json:"tasks"`
		} `json:"report"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, task := range f.Report.Tasks {
		out[task.ID] = task.Agent
	}
	jobLog, _ := os.ReadFile(filepath.Join(filepath.Dir(dirs[0]), "job.log"))
	return out, string(jobLog)
}

// TestAgentsOnCluster: a host whose hub is on a three-node cluster
// (--hub) runs a jobfile's tasks placed on lab sjc on agent a1 and those on
// lab nyc on agent a2, both `taskhost agent` processes connected to the
// cluster's nodes, and the others on the host; the agents then serve the
// next run on the cluster as well. An agent whose key the lab does not
// list is refused (the host's job.log says why, and it serves nothing),
// and a placement that only it could serve fails before the run (exit 2,
// "No agent for this placement", naming only the listed agents).
func TestAgentsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := startCluster(t)
	agentPrograms(t)
	lab := filepath.Join(t.TempDir(), "lab")
	if err := os.Mkdir(lab, 0o700); err != nil {
		t.Fatal(err)
	}
	for file, seed := range map[string][]byte{"host.seed": c.hostSeed, "issuer.seed": c.issuerSeed} {
		if err := os.WriteFile(filepath.Join(lab, file), append(seed, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	seeds := map[string]string{}
	for _, name := range []string{"a1", "a2"} {
		if code, out := taskhostCmd(t, "agent", "add", name, "--lab", lab); code != 0 {
			t.Fatalf("agent add %s: exit %d\n%s", name, code, out)
		}
		seeds[name] = filepath.Join(lab, name+".seed")
	}
	// a3's key is of another lab: this host's agents.json does not list it.
	other := filepath.Join(t.TempDir(), "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out := taskhostCmd(t, "agent", "add", "a3", "--lab", other); code != 0 {
		t.Fatalf("agent add a3: exit %d\n%s", code, out)
	}
	a1 := startClusterAgent(t, c, "a1", seeds["a1"], "lab=sjc")
	a2 := startClusterAgent(t, c, "a2", seeds["a2"], "lab=nyc")
	a3 := startClusterAgent(t, c, "a3", filepath.Join(other, "a3.seed"), "lab=lon")

	job := clusterJob(t, map[string]string{"sjc": "sjc", "nyc": "nyc", "local": ""})
	want := map[string]string{"sjc": "a1", "nyc": "a2", "local": ""}
	jobLogs := ""
	for run := 1; run <= 2; run++ {
		runs := filepath.Join(t.TempDir(), "runs")
		code, out := taskhostCmd(t, "run", "--runs-dir", runs, "--hub", strings.Join(c.urls, ","), "--lab", lab,
			"--agent-wait", "60s", job)
		if code != 0 {
			t.Fatalf("run %d: exit %d, want 0\n%s", run, code, out)
		}
		got, jobLog := ranOn(t, runs)
		for id, agent := range want {
			if got[id] != agent {
				t.Errorf("run %d: task %s ran on %q, want %q", run, id, got[id], agent)
			}
		}
		jobLogs += jobLog
	}
	// a3 tries to connect every 2.5 s or so: while the two runs' hosts
	// were up, one of them refused it.
	if !strings.Contains(jobLogs, "refused an agent: its key is not the agent's listed key") || !strings.Contains(jobLogs, "agent=a3") {
		t.Errorf("no job.log says that a3 was refused:\n%s", jobLogs)
	}
	for _, a := range []*clusterAgent{a1, a2} {
		if n := strings.Count(a.log.String(), "serving a run"); n != 2 {
			t.Errorf("agent %s served %d runs, want 2", a.name, n)
		}
	}

	lon := clusterJob(t, map[string]string{"lon": "lon"})
	code, out := taskhostCmd(t, "run", "--runs-dir", filepath.Join(t.TempDir(), "runs"), "--hub", strings.Join(c.urls, ","),
		"--lab", lab, "--agent-wait", "5s", lon)
	if code != 2 || !strings.Contains(out, "No agent for this placement") {
		t.Fatalf("a run placed on a3's lab only: exit %d, want 2 and \"No agent for this placement\"\n%s", code, out)
	}
	if strings.Contains(out, "a3 (") {
		t.Errorf("the placement error counts the refused agent a3 as connected:\n%s", out)
	}
	if strings.Contains(a3.log.String(), "serving a run") {
		t.Errorf("the refused agent a3 served a run:\n%s", a3.log.String())
	}
}

// TestClusterAgentsLeave: on a cluster, where the host cannot list the
// nodes' connections, the hub counts an agent connected from its
// admission and while it hears its heartbeat: an agent that beats stays
// listed past the silence allowed, one whose connection closed is gone
// within it, and a revoked agent is gone although it still beats.
func TestClusterAgentsLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := startCluster(t)
	keys := map[string]nkeys.KeyPair{}
	var mu sync.Mutex
	listed := map[string]string{}
	for _, name := range []string{"a1", "a2", "a3"} {
		keys[name], _ = nkeys.CreateUser()
		listed[name], _ = keys[name].PublicKey()
	}
	h := c.hub(t, hub.Config{Agents: &hub.AgentsConfig{
		Keys: func() (map[string]string, error) {
			mu.Lock()
			defer mu.Unlock()
			out := map[string]string{}
			for k, v := range listed {
				out[k] = v
			}
			return out, nil
		},
		Classes:     map[string]map[string]string{"c1": {"lab": "sjc"}},
		RevokeCheck: 200 * time.Millisecond,
	}})
	urls := strings.Join(c.urls, ",")
	conns := map[string]*nats.Conn{}
	for name, kp := range keys {
		pub, _ := kp.PublicKey()
		nc, err := nats.Connect(urls, nats.Name(agentwire.ConnName(name, map[string]string{"lab": "sjc"})),
			nats.Nkey(pub, kp.Sign), nats.CustomInboxPrefix(agentwire.AgentInbox(name)), nats.Timeout(10*time.Second))
		if err != nil {
			t.Fatalf("agent %s: %v", name, err)
		}
		t.Cleanup(nc.Close)
		conns[name] = nc
	}
	names := func(as []hub.AgentInfo) string {
		var out []string
		for _, a := range as {
			out = append(out, a.Name)
		}
		return strings.Join(out, ",")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := names(h.WaitAgents(ctx, func(as []hub.AgentInfo) bool { return len(as) == 3 })); got != "a1,a2,a3" {
		t.Fatalf("connected agents %q, want a1,a2,a3", got)
	}
	// a1 and a3 beat; a2's connection closes; a3 is revoked.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range []string{"a1", "a3"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				_ = conns[name].Publish(agentwire.HeartbeatSubject(name), agentwire.Encode(agentwire.Heartbeat{Version: agentwire.Version, Agent: name}))
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	conns["a2"].Close()
	mu.Lock()
	delete(listed, "a3")
	mu.Unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := names(h.WaitAgents(ctx, func(as []hub.AgentInfo) bool { return len(as) == 1 })); got != "a1" {
		t.Fatalf("connected agents %q after a2 closed and a3 was revoked, want a1", got)
	}
	// a1 stays, beating, well past the silence allowed an agent.
	time.Sleep(8 * time.Second)
	if got := names(h.Agents()); got != "a1" {
		t.Errorf("connected agents %q while a1 beats, want a1", got)
	}
}
