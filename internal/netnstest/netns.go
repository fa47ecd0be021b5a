package netnstest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// MarkerEnv is the environment variable Command sets, to the name of the
// namespace it starts its process in; the process's descendants inherit
// it unless they clear their environment.
const MarkerEnv = "NETNSTEST_NS"

// Net is a host namespace and the agent namespaces joined to it.
type Net struct {
	// Host is the host's namespace.
	Host string
	// Agents are the agents' namespaces: agent k's is Agents[k-1].
	Agents []string

	t    testing.TB
	ip   string
	mu   sync.Mutex
	cmds []*exec.Cmd
}

// seq tells apart the Nets of one test process.
var seq atomic.Int64

// nameRE matches the namespaces this package makes; its group is the
// pid of the process that made them.
var nameRE = regexp.MustCompile(`^th([0-9]+)n[0-9]+(h|a[0-9]+)$`)

// New makes a host namespace and agents agent namespaces, agent k's
// joined to the host's by a veth pair: 10.k.0.1/30 on the host's end,
// 10.k.0.2/30 on the agent's (k from 1 to agents, at most 254). The
// test's cleanup kills the processes in them and deletes them. New skips
// the test when ip is missing or the kernel refuses a namespace for lack
// of privilege.
func New(t testing.TB, agents int) *Net {
	t.Helper()
	if agents < 0 || agents > 254 {
		t.Fatalf("netnstest: %d agents; want 0 to 254", agents)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		for _, p := range []string{"/usr/sbin/ip", "/sbin/ip"} {
			if _, serr := os.Stat(p); serr == nil {
				ip, err = p, nil
				break
			}
		}
	}
	if err != nil {
		t.Skip("network namespaces need the ip command (Debian: apt-get install iproute2; scripts/test-deps installs it)")
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("starting a process in a network namespace needs nsenter (Debian: apt-get install util-linux; scripts/test-deps installs it)")
	}
	sweep(ip)
	prefix := fmt.Sprintf("th%dn%d", os.Getpid(), seq.Add(1))
	n := &Net{Host: prefix + "h", t: t, ip: ip}
	for k := 1; k <= agents; k++ {
		n.Agents = append(n.Agents, fmt.Sprintf("%sa%d", prefix, k))
	}
	if out, err := exec.Command(ip, "netns", "add", n.Host).CombinedOutput(); err != nil {
		if denied(out) {
			t.Skipf("network namespaces need root (CAP_SYS_ADMIN): ip netns add: %s", bytes.TrimSpace(out))
		}
		t.Fatalf("ip netns add %s: %v: %s", n.Host, err, out)
	}
	t.Cleanup(n.close)
	n.run("-n", n.Host, "link", "set", "lo", "up")
	for i, ns := range n.Agents {
		k := i + 1
		host := fmt.Sprintf("veth%d", k)
		n.run("netns", "add", ns)
		n.run("-n", ns, "link", "set", "lo", "up")
		n.run("-n", n.Host, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns)
		n.run("-n", n.Host, "addr", "add", n.HostAddr(k)+"/30", "dev", host)
		n.run("-n", ns, "addr", "add", n.AgentAddr(k)+"/30", "dev", "eth0")
		n.run("-n", n.Host, "link", "set", host, "up")
		n.run("-n", ns, "link", "set", "eth0", "up")
	}
	return n
}

// denied reports whether ip's output says it lacked the privilege.
func denied(out []byte) bool {
	s := string(out)
	return strings.Contains(s, "Operation not permitted") || strings.Contains(s, "Permission denied")
}

// HostAddr is the host's address on agent k's link: 10.k.0.1.
func (n *Net) HostAddr(k int) string { return fmt.Sprintf("10.%d.0.1", k) }

// AgentAddr is agent k's address: 10.k.0.2.
func (n *Net) AgentAddr(k int) string { return fmt.Sprintf("10.%d.0.2", k) }

// Command is exec.Command for a program run in the namespace ns (n.Host
// or one of n.Agents): the process is the program itself (nsenter execs
// it, so its pid is the Cmd's), with MarkerEnv=ns added to the test's
// environment (set Env after, keeping that entry, to change it), and it
// is killed if the test process dies, and when the test ends. Unlike ip
// netns exec, it keeps the mounts, /sys/fs/cgroup among them.
func (n *Net) Command(ns, name string, args ...string) *exec.Cmd {
	n.t.Helper()
	if ns != n.Host && !contains(n.Agents, ns) {
		n.t.Fatalf("netnstest: %q is not a namespace of this Net", ns)
	}
	cmd := exec.Command("nsenter", append([]string{"--net=" + filepath.Join("/run/netns", ns), "--", name}, args...)...)
	cmd.Env = append(os.Environ(), MarkerEnv+"="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.mu.Lock()
	n.cmds = append(n.cmds, cmd)
	n.mu.Unlock()
	return cmd
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// LinkDown takes agent k's end of its link down: new connections between
// it and the host fail at once, and established ones stall, as in a
// network partition.
func (n *Net) LinkDown(k int) {
	n.t.Helper()
	n.run("-n", n.agent(k), "link", "set", "eth0", "down")
}

// LinkUp brings agent k's end of its link back up, with its address.
func (n *Net) LinkUp(k int) {
	n.t.Helper()
	ns := n.agent(k)
	n.run("-n", ns, "link", "set", "eth0", "up")
	// An IPv4 address stays on a link that goes down, but a kernel
	// configured to flush it would leave the agent without one.
	out, err := exec.Command(n.ip, "-n", ns, "-4", "addr", "show", "dev", "eth0").CombinedOutput()
	if err == nil && !bytes.Contains(out, []byte(n.AgentAddr(k)+"/")) {
		n.run("-n", ns, "addr", "add", n.AgentAddr(k)+"/30", "dev", "eth0")
	}
}

func (n *Net) agent(k int) string {
	n.t.Helper()
	if k < 1 || k > len(n.Agents) {
		n.t.Fatalf("netnstest: no agent %d (there are %d)", k, len(n.Agents))
	}
	return n.Agents[k-1]
}

// Procs lists the live processes started in ns with Command, and their
// descendants that kept MarkerEnv.
func (n *Net) Procs(ns string) []int {
	return Marked(MarkerEnv, ns)
}

// run runs ip with args and fails the test if it fails.
func (n *Net) run(args ...string) {
	n.t.Helper()
	if out, err := exec.Command(n.ip, args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// close kills what was started in the namespaces and deletes them.
func (n *Net) close() {
	n.mu.Lock()
	cmds := n.cmds
	n.mu.Unlock()
	for _, cmd := range cmds {
		if cmd.Process != nil {
			_ = cmd.Process.Kill() // one already waited for is no error
		}
	}
	for _, ns := range append([]string{n.Host}, n.Agents...) {
		if err := remove(n.ip, ns); err != nil {
			n.t.Errorf("netnstest: %v", err)
		}
	}
}

// remove kills the processes in the namespace ns, those started in it
// with Command wherever they are and those in it whatever started them,
// and deletes it. A namespace that is not there is no error.
func remove(ip, ns string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids := Marked(MarkerEnv, ns)
		if out, err := exec.Command(ip, "netns", "pids", ns).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() && alive(pid) {
					pids = append(pids, pid)
				}
			}
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v in namespace %s outlived SIGKILL for 10 s", pids, ns)
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out, err := exec.Command(ip, "netns", "del", ns).CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("No such file")) {
		return fmt.Errorf("ip netns del %s: %v: %s", ns, err, bytes.TrimSpace(out))
	}
	return nil
}

// sweep deletes the namespaces this package made in processes that are
// gone (a test killed before its cleanup ran).
func sweep(ip string) {
	out, err := exec.Command(ip, "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		m := nameRE.FindStringSubmatch(f[0])
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid == os.Getpid() || alive(pid) {
			continue
		}
		_ = remove(ip, f[0])
	}
}

// Marked lists the live processes (zombies left out) whose environment
// has name=value; an empty value matches any value of name. The test
// process itself is left out. A process's environment is the one it
// started with (/proc/PID/environ).
func Marked(name, value string) []int {
	entries, _ := os.ReadDir("/proc")
	want := []byte(name + "=" + value)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if bytes.Equal(kv, want) || value == "" && bytes.HasPrefix(kv, want) {
				if alive(pid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// Environ is the environment process pid started with, or nil if it is
// gone.
func Environ(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
