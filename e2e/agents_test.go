package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/netnstest"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// The agents' tests run the host in one network namespace and each agent
// in one of its own, joined to the host's by a veth pair (netnstest):
// agent k reaches the host at 10.k.0.1. They need root, and skip without.

// hubPort is the port the host listens on for agents, in its namespace.
const hubPort = "4222"

// hostTimeout is the agents' --host-timeout.
const hostTimeout = 5 * time.Second

var agentPackOnce struct {
	sync.Once
	err error
}

// agentPack builds internal/testpack/agentpack into bin, once.
func agentPack(t *testing.T) string {
	t.Helper()
	agentPackOnce.Do(func() {
		args := append(append([]string{"build"}, buildFlags...), "-o", filepath.Join(bin, "agentpack"), "../internal/testpack/agentpack")
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			agentPackOnce.err = fmt.Errorf("build agentpack: %v\n%s", err, out)
		}
	})
	if agentPackOnce.err != nil {
		t.Fatal(agentPackOnce.err)
	}
	return filepath.Join(bin, "agentpack")
}

// agentJob copies testdata/agents/NAME.hcl into a new temporary directory
// with the agentpack's pack block prepended, and returns its path.
func agentJob(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "agents", name+".hcl"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".hcl")
	head := fmt.Sprintf("pack \"agentpack\" { path = %q }\n", agentPack(t))
	if err := os.WriteFile(path, append([]byte(head), src...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// agentsLab is a lab directory and the namespaces of a host and its agents.
type agentsLab struct {
	net    *netnstest.Net
	dir    string
	agents []*agentProc
}

// agentProc is a taskhost agent the test started.
type agentProc struct {
	name, ns string
	k        int
	cmd      *exec.Cmd
	out      syncBuffer
	done     chan struct{}
}

// newAgentsLab makes n agent namespaces and a lab whose hub certificate
// names the host's address on each agent's link.
func newAgentsLab(t *testing.T, n int) *agentsLab {
	t.Helper()
	l := &agentsLab{net: netnstest.New(t, n), dir: filepath.Join(t.TempDir(), "lab")} // init makes it, 0700
	var hosts []string
	for k := 1; k <= n; k++ {
		hosts = append(hosts, l.net.HostAddr(k))
	}
	l.taskhost(t, "agent", "init", "--lab", l.dir, "--host", strings.Join(hosts, ","))
	for _, f := range []string{"hub-cert.pem", "hub-key.pem"} {
		if _, err := os.Stat(filepath.Join(l.dir, f)); err != nil {
			t.Fatalf("agent init: %v", err)
		}
	}
	return l
}

// taskhost runs taskhost with args in the test's namespace and fails the
// test unless it exits 0.
func (l *agentsLab) taskhost(t *testing.T, args ...string) string {
	t.Helper()
	r := taskhost(t, args...)
	if r.code != 0 {
		t.Fatalf("taskhost %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// add adds the agent name to the lab and returns its seed file.
func (l *agentsLab) add(t *testing.T, name string) string {
	t.Helper()
	l.taskhost(t, "agent", "add", name, "--lab", l.dir)
	seed := filepath.Join(l.dir, name+".seed")
	if fi, err := os.Stat(seed); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("agent add %s: seed %v, %v; want a file of mode 0600", name, fi, err)
	}
	return seed
}

// start starts the agent name, with the seed file and labels, in agent
// namespace k; it reaches the host at 10.k.0.1.
func (l *agentsLab) start(t *testing.T, k int, name, seed, labels string) *agentProc {
	t.Helper()
	a := &agentProc{name: name, ns: l.net.Agents[k-1], k: k, done: make(chan struct{})}
	a.cmd = l.net.Command(a.ns, filepath.Join(bin, "taskhost"), "agent",
		"--hub", "tls://"+l.net.HostAddr(k)+":"+hubPort, "--name", name, "--key", seed,
		"--ca", filepath.Join(l.dir, "hub-cert.pem"), "--labels", labels, "--slots", "2",
		"--cache", filepath.Join(t.TempDir(), "cache"), "--host-timeout", hostTimeout.String())
	a.cmd.Stdout, a.cmd.Stderr = &a.out, &a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = a.cmd.Wait()
		close(a.done)
	}()
	t.Cleanup(func() {
		_ = a.cmd.Process.Kill()
		<-a.done
	})
	l.agents = append(l.agents, a)
	return a
}

// running reports whether the agent has not exited.
func (a *agentProc) running() bool {
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

// host starts taskhost run --listen in the host's namespace with the lab,
// and does not wait for it.
func (l *agentsLab) host(t *testing.T, agentWait time.Duration, args ...string) *hostRun {
	t.Helper()
	h := &hostRun{runsDir: filepath.Join(t.TempDir(), "runs"), done: make(chan struct{})}
	args = append([]string{"run", "--runs-dir", h.runsDir, "--listen", ":" + hubPort, "--lab", l.dir,
		"--agent-wait", agentWait.String()}, args...)
	h.cmd = l.net.Command(l.net.Host, filepath.Join(bin, "taskhost"), args...)
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, &h.stderr
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = h.cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		_ = h.cmd.Process.Kill()
		<-h.done
	})
	return h
}

// wait is hostRun.wait, with the agents' output in the message of a hang.
func (l *agentsLab) wait(t *testing.T, h *hostRun, limit time.Duration, what string) runResult {
	t.Helper()
	select {
	case <-h.done:
	case <-time.After(limit):
		_ = h.cmd.Process.Kill()
		<-h.done
		t.Fatalf("the host was still running %s after %s; killed it\nstdout:\n%s\nstderr:\n%s\n%s", limit, what, h.stdout.String(), h.stderr.String(), l.logs())
	}
	return runResult{code: h.cmd.ProcessState.ExitCode(), stdout: h.stdout.String(), stderr: h.stderr.String(), runsDir: h.runsDir}
}

// logs is every agent's output, for a failing test's message.
func (l *agentsLab) logs() string {
	var b strings.Builder
	for _, a := range l.agents {
		fmt.Fprintf(&b, "--- agent %s (%s):\n%s\n", a.name, a.ns, a.out.String())
	}
	return b.String()
}

// agentOf names the agent whose namespace the process pid runs in (by
// the marker its agent's environment passed down), or "" for none.
func (l *agentsLab) agentOf(pid int) *agentProc {
	for _, kv := range netnstest.Environ(pid) {
		for _, a := range l.agents {
			if kv == netnstest.MarkerEnv+"="+a.ns {
				return a
			}
		}
	}
	return nil
}

// packProcs lists the live processes in agent a's namespace other than
// the agent itself: its packs and what they started.
func (l *agentsLab) packProcs(a *agentProc) []int {
	return slices.DeleteFunc(l.net.Procs(a.ns), func(pid int) bool { return pid == a.cmd.Process.Pid })
}

// agentResults is the part of results.json these tests read, with the
// agent of each task and attempt.
type agentResults struct {
	Report struct {
		State map[string]json.RawMessage `json:"state"`
		Tasks []*agentTask               `json:"tasks"`
	} `json:"report"`
}

type agentTask struct {
	ID       string         `json:"id"`
	Agent    string         `json:"agent"`
	Result   report.Outcome `json:"result"`
	Sections []*report.Node `json:"sections"`
	Attempts []struct {
		Attempt  int            `json:"attempt"`
		Agent    string         `json:"agent"`
		Result   report.Outcome `json:"result"`
		Sections []*report.Node `json:"sections"`
	} `json:"attempts"`
}

func readAgentResults(t *testing.T, r runResult) *agentResults {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.runDir(t), "results.json"))
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	var f agentResults
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func (f *agentResults) task(t *testing.T, id string) *agentTask {
	t.Helper()
	for _, task := range f.Report.Tasks {
		if task.ID == id {
			return task
		}
	}
	t.Fatalf("no task %q in results.json", id)
	return nil
}

// stepNames lists the names of the steps in sections, depth first.
func stepNames(sections []*report.Node) []string {
	var names []string
	for _, n := range sections {
		names = append(names, n.Name)
		names = append(names, stepNames(n.Sections)...)
	}
	return names
}

// noDoubles fails the test if a name appears twice in one attempt's steps.
func noDoubles(t *testing.T, what string, sections []*report.Node) {
	t.Helper()
	seen := map[string]bool{}
	for _, name := range stepNames(sections) {
		if seen[name] {
			t.Errorf("%s: step %q is in results.json twice: %v", what, name, stepNames(sections))
		}
		seen[name] = true
	}
}

// waitPid waits for the task's first attempt to write its pid file in dir
// and returns the pid; a bound of 90 s guards a hang.
func waitPid(t *testing.T, l *agentsLab, h *hostRun, dir, name string) int {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
		if err == nil {
			pid, err := strconv.Atoi(string(b))
			if err != nil {
				t.Fatalf("%s.pid: %q", name, b)
			}
			return pid
		}
		select {
		case <-h.done:
			t.Fatalf("the host exited before task %s started\nstdout:\n%s\nstderr:\n%s\n%s", name, h.stdout.String(), h.stderr.String(), l.logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s did not start in 90 s\nstdout:\n%s\nstderr:\n%s\n%s", name, h.stdout.String(), h.stderr.String(), l.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gone waits up to limit for every process of pids to be gone (zombies
// count as gone) and returns those still alive.
func gone(pids func() []int, limit time.Duration) []int {
	deadline := time.Now().Add(limit)
	for {
		left := pids()
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(pids []int) string {
	var s []string
	for _, pid := range pids {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		s = append(s, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
	}
	return strings.Join(s, ", ")
}

// loggedLines lists the numbers of the lines "ID line N" in a task.log,
// in its order.
func loggedLines(id string, log []byte) []int {
	re := regexp.MustCompile(`(?m)\b` + regexp.QuoteMeta(id) + ` line ([0-9]+)\b`)
	var got []int
	for _, m := range re.FindAllSubmatch(log, -1) {
		n, _ := strconv.Atoi(string(m[1]))
		got = append(got, n)
	}
	return got
}

func oneTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

// TestAgentsMixedPlacement: the host in its namespace and three agents in
// theirs (a1 and a2 of lab sjc, a3 of lab nyc) run a jobfile of tasks on
// the host, on lab sjc (by their own placement and by the job's default)
// and on lab nyc: every task passes, on the host or on an agent whose
// labels its placement allows, its task.log in the host's run directory
// has every line it logged, and the counter every task added 1 to is
// exact.
func TestAgentsMixedPlacement(t *testing.T) {
	t.Parallel()
	l := newAgentsLab(t, 3)
	path := agentJob(t, "mixed")
	labs := map[string]string{"a1": "sjc", "a2": "sjc", "a3": "nyc"}
	seeds := map[string]string{}
	for name := range labs {
		seeds[name] = l.add(t, name) // before the host reads the lab
	}
	h := l.host(t, 60*time.Second, path)
	for k, name := range []string{"a1", "a2", "a3"} {
		l.start(t, k+1, name, seeds[name], "lab="+labs[name])
	}
	r := l.wait(t, h, 180*time.Second, "its tasks should have ended")
	if r.code != 0 {
		t.Errorf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s\n%s", r.code, r.stdout, r.stderr, l.logs())
	}
	f := readAgentResults(t, r)
	want := map[string]string{ // task: the lab its agent must be in, "" on the host
		"local1": "", "local2": "",
		"sjc1": "sjc", "sjc2": "sjc", "sjc3": "sjc",
		"nyc1": "nyc", "nyc2": "nyc",
		"default1": "sjc", "default2": "sjc", "default3": "sjc",
	}
	if len(f.Report.Tasks) != len(want) {
		t.Errorf("%d tasks in results.json, want %d", len(f.Report.Tasks), len(want))
	}
	for id, lab := range want {
		task := f.task(t, id)
		if task.Result.Value != result.Passed {
			t.Errorf("%s: %s (%s), want passed", id, task.Result.Value, task.Result.Reason)
		}
		switch {
		case lab == "" && task.Agent != "":
			t.Errorf("%s: ran on agent %q, want the host", id, task.Agent)
		case lab != "" && labs[task.Agent] != lab:
			t.Errorf("%s: ran on %q, want an agent of lab %s", id, task.Agent, lab)
		}
		if got := stepNames(task.Sections); !slices.Equal(got, []string{"log", "add"}) {
			t.Errorf("%s: steps %v, want [log add]", id, got)
		}
		b, err := os.ReadFile(filepath.Join(r.runDir(t), "tasks", id, "task.log"))
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if got := loggedLines(id, b); !slices.Equal(got, oneTo(20)) {
			t.Errorf("%s: task.log has its lines %v, want 1 to 20 once each in order:\n%s", id, got, b)
		}
		// `taskhost logs` finds a step's lines by the offsets its events
		// gave, which for a task on an agent are those of the agent's
		// file: the same in the host's copy.
		lr := taskhost(t, "logs", r.runDir(t), id, "1")
		if lr.code != 0 || !slices.Equal(loggedLines(id, []byte(lr.stdout)), oneTo(20)) {
			t.Errorf("%s: taskhost logs of step 1 (log): exit %d, lines %v, want 1 to 20\n%s%s", id, lr.code,
				loggedLines(id, []byte(lr.stdout)), lr.stdout, lr.stderr)
		}
	}
	if got := string(f.Report.State["count"]); got != strconv.Itoa(len(want)) {
		t.Errorf("count = %s, want %d (one Add per task)", got, len(want))
	}
}

// TestAgentRefused: an agent whose key is not in the lab's agents file and
// one whose key was revoked are refused; a placement only they could
// serve fails validation (exit 2, "No agent for this placement", naming
// the agent that did connect), and each refused agent says it was
// refused.
func TestAgentRefused(t *testing.T) {
	t.Parallel()
	l := newAgentsLab(t, 3)
	other := filepath.Join(t.TempDir(), "lab")
	l.taskhost(t, "agent", "init", "--lab", other, "--host", l.net.HostAddr(1))
	l.taskhost(t, "agent", "add", "a1", "--lab", other)
	unknown := filepath.Join(other, "a1.seed")
	revoked := l.add(t, "a2")
	l.taskhost(t, "agent", "revoke", "a2", "--lab", l.dir)
	if list := l.taskhost(t, "agent", "list", "--lab", l.dir); strings.Contains(list, "a2") && !strings.Contains(list, "revoked") {
		t.Errorf("agent list still lists a2 as allowed:\n%s", list)
	}
	good := l.add(t, "a3")

	h := l.host(t, 15*time.Second, agentJob(t, "sjc"))
	a1 := l.start(t, 1, "a1", unknown, "lab=sjc")
	a2 := l.start(t, 2, "a2", revoked, "lab=sjc")
	l.start(t, 3, "a3", good, "lab=nyc")
	r := l.wait(t, h, 90*time.Second, "its agent wait should have ended")
	if r.code != 2 || !strings.Contains(r.stderr, "No agent for this placement") || !strings.Contains(r.stderr, "a3") {
		t.Errorf("exit %d, want 2 and No agent for this placement naming a3\nstdout:\n%s\nstderr:\n%s\n%s", r.code, r.stdout, r.stderr, l.logs())
	}
	for _, name := range []string{"a1", "a2"} {
		if strings.Contains(r.stderr, name+" ") || strings.Contains(r.stderr, name+",") {
			t.Errorf("the host names the refused agent %s among those connected:\n%s", name, r.stderr)
		}
	}
	for _, a := range []*agentProc{a1, a2} {
		out := strings.ToLower(a.out.String())
		if !strings.Contains(out, "refused") && !strings.Contains(out, "authorization violation") {
			t.Errorf("agent %s does not say it was refused:\n%s", a.name, a.out.String())
		}
	}
}

// TestAgentKilled: the agent running a task's first attempt is killed
// with SIGKILL mid-task; the attempt ends Errored "agent NAME lost", the
// second attempt passes on the other agent, no process of the killed
// agent is left, and no step is doubled.
func TestAgentKilled(t *testing.T) {
	t.Parallel()
	l := newAgentsLab(t, 2)
	dir := t.TempDir()
	s1, s2 := l.add(t, "a1"), l.add(t, "a2")
	h := l.host(t, 60*time.Second, "--var", "dir="+dir, agentJob(t, "victim"))
	l.start(t, 1, "a1", s1, "lab=sjc")
	l.start(t, 2, "a2", s2, "lab=sjc")
	pack := waitPid(t, l, h, dir, "victim")
	victim := l.agentOf(pack)
	if victim == nil {
		t.Fatalf("the pack %d runs in no agent's namespace: %v", pack, netnstest.Environ(pack))
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	r := l.wait(t, h, 120*time.Second, "the killed agent's attempt was retried")
	if r.code != 0 {
		t.Errorf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s\n%s", r.code, r.stdout, r.stderr, l.logs())
	}
	checkRetried(t, l, r, victim)
	if left := gone(func() []int { return l.net.Procs(victim.ns) }, hostTimeout+10*time.Second); len(left) > 0 {
		t.Errorf("processes of the killed agent %s left: %s", victim.name, describe(left))
	}
}

// checkRetried checks the task victim: attempt 1 on lost "agent NAME
// lost", attempt 2 passed on the other agent, each step once, and the
// counter added once by each attempt.
func checkRetried(t *testing.T, l *agentsLab, r runResult, lost *agentProc) {
	t.Helper()
	f := readAgentResults(t, r)
	task := f.task(t, "victim")
	if task.Result.Value != result.Passx || len(task.Attempts) != 2 {
		t.Fatalf("victim: %s (%s) with %d attempts, want passx with 2\n%s", task.Result.Value, task.Result.Reason, len(task.Attempts), l.logs())
	}
	first, second := task.Attempts[0], task.Attempts[1]
	if first.Agent != lost.name || first.Result.Value != result.Errored || first.Result.Reason != "agent "+lost.name+" lost" {
		t.Errorf("attempt 1: on %q, %s (%s); want on %s, errored (agent %s lost)", first.Agent, first.Result.Value, first.Result.Reason, lost.name, lost.name)
	}
	if second.Agent == lost.name || second.Agent == "" || second.Result.Value != result.Passed {
		t.Errorf("attempt 2: on %q, %s (%s); want passed on the other agent", second.Agent, second.Result.Value, second.Result.Reason)
	}
	if task.Agent != second.Agent {
		t.Errorf("the task's agent is %q, its passing attempt's %q", task.Agent, second.Agent)
	}
	noDoubles(t, "attempt 1", first.Sections)
	noDoubles(t, "attempt 2", second.Sections)
	if got := stepNames(second.Sections); !slices.Equal(got, []string{"log", "add"}) {
		t.Errorf("attempt 2: steps %v, want [log add]", got)
	}
	if got, tries := string(f.Report.State["count"]), string(f.Report.State["tries.victim"]); got != "2" || tries != "2" {
		t.Errorf("count = %s, tries.victim = %s; want 2 and 2 (one Add each per attempt)", got, tries)
	}
}

// TestAgentPartitioned: the link of the agent running a task's first
// attempt goes down for host-timeout + 5 s, then up: the agent kills the
// pack while cut off, the attempt ends "agent NAME lost", the second
// passes on the other agent, and no step is doubled.
func TestAgentPartitioned(t *testing.T) {
	t.Parallel()
	l := newAgentsLab(t, 2)
	dir := t.TempDir()
	s1, s2 := l.add(t, "a1"), l.add(t, "a2")
	h := l.host(t, 60*time.Second, "--var", "dir="+dir, agentJob(t, "victim"))
	l.start(t, 1, "a1", s1, "lab=sjc")
	l.start(t, 2, "a2", s2, "lab=sjc")
	pack := waitPid(t, l, h, dir, "victim")
	cut := l.agentOf(pack)
	if cut == nil {
		t.Fatalf("the pack %d runs in no agent's namespace: %v", pack, netnstest.Environ(pack))
	}
	l.net.LinkDown(cut.k)
	down := time.Now()
	upped := false
	defer func() {
		if !upped {
			l.net.LinkUp(cut.k)
		}
	}()
	if left := gone(func() []int { return l.packProcs(cut) }, hostTimeout+5*time.Second); len(left) > 0 {
		t.Errorf("agent %s's pack processes outlived host-timeout + 5 s cut off: %s", cut.name, describe(left))
	}
	time.Sleep(time.Until(down.Add(hostTimeout + 5*time.Second)))
	l.net.LinkUp(cut.k)
	upped = true
	r := l.wait(t, h, 120*time.Second, "the cut-off agent's attempt was retried")
	if r.code != 0 {
		t.Errorf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s\n%s", r.code, r.stdout, r.stderr, l.logs())
	}
	checkRetried(t, l, r, cut)
	if !cut.running() {
		t.Errorf("agent %s exited after its link came back:\n%s", cut.name, cut.out.String())
	}
}

// TestHostKilledAgentsStay: the host is killed with SIGKILL while a task
// holds on each agent; within host-timeout (and a margin) no pack process
// is left on either agent, the agents stay up, and they serve the next
// run, which passes.
func TestHostKilledAgentsStay(t *testing.T) {
	t.Parallel()
	l := newAgentsLab(t, 2)
	dir := t.TempDir()
	path := agentJob(t, "twolabs")
	s1, s2 := l.add(t, "a1"), l.add(t, "a2")
	h := l.host(t, 60*time.Second, "--var", "dir="+dir, "--var", "hold=300s", path)
	a1 := l.start(t, 1, "a1", s1, "lab=sjc")
	a2 := l.start(t, 2, "a2", s2, "lab=nyc")
	for _, name := range []string{"sjc", "nyc"} {
		pid := waitPid(t, l, h, dir, name)
		if a := l.agentOf(pid); a == nil || a.name != map[string]string{"sjc": "a1", "nyc": "a2"}[name] {
			t.Errorf("task %s's pack %d is not in its agent's namespace: %v", name, pid, netnstest.Environ(pid))
		}
	}
	if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-h.done
	for _, a := range []*agentProc{a1, a2} {
		if left := gone(func() []int { return l.packProcs(a) }, hostTimeout+10*time.Second); len(left) > 0 {
			t.Errorf("agent %s's pack processes outlived the killed host by host-timeout + 10 s: %s", a.name, describe(left))
		}
		if !a.running() {
			t.Errorf("agent %s exited with the host:\n%s", a.name, a.out.String())
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// The killed run is rebuilt from its record: each task on an agent
	// was running, and is aborted because the host stopped, on its
	// agent.
	killed := runResult{runsDir: h.runsDir}
	if rec := taskhost(t, "results", "recover", killed.runDir(t)); rec.code != 0 {
		t.Fatalf("recover: exit %d\n%s\n%s", rec.code, rec.stdout, rec.stderr)
	}
	f1 := readAgentResults(t, killed)
	for name, agent := range map[string]string{"sjc": "a1", "nyc": "a2"} {
		if task := f1.task(t, name); task.Result.Value != result.Aborted || !strings.Contains(task.Result.Reason, "host stopped") || task.Agent != agent {
			t.Errorf("recovered run, %s: %s (%s) on %q; want aborted, the host stopped, on %s", name, task.Result.Value, task.Result.Reason, task.Agent, agent)
		}
	}
	dir2 := t.TempDir()
	h2 := l.host(t, 60*time.Second, "--var", "dir="+dir2, "--var", "hold=0s", path)
	r := l.wait(t, h2, 120*time.Second, "its tasks should have ended")
	if r.code != 0 {
		t.Fatalf("second run: exit %d, want 0\nstdout:\n%s\nstderr:\n%s\n%s", r.code, r.stdout, r.stderr, l.logs())
	}
	f := readAgentResults(t, r)
	for name, agent := range map[string]string{"sjc": "a1", "nyc": "a2"} {
		if task := f.task(t, name); task.Result.Value != result.Passed || task.Agent != agent {
			t.Errorf("second run, %s: %s (%s) on %q; want passed on %s", name, task.Result.Value, task.Result.Reason, task.Agent, agent)
		}
	}
}
