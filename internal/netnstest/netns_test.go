package netnstest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a small program instead of the tests:
// "listen" or "dial" (see TestMain).
const helperEnv = "NETNSTEST_HELPER"

// port is the port the listener takes in the host's namespace, which is
// new and so has it free.
const port = "4299"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "listen":
		listen()
	case "dial":
		dial(os.Getenv("NETNSTEST_ADDR"))
	}
	os.Exit(m.Run())
}

// listen listens on the port on every address of its namespace, starts a
// child that sleeps, says "ready CHILDPID", and answers each connection
// with the name of its namespace.
func listen() {
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	child := exec.Command("sleep", "300")
	if err := child.Start(); err != nil {
		fmt.Println("sleep:", err)
		os.Exit(1)
	}
	fmt.Println("ready", child.Process.Pid)
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(1)
		}
		fmt.Fprint(c, "hello from ", os.Getenv(MarkerEnv))
		c.Close()
	}
}

// dial connects to addr, prints what it reads, and exits 0; or prints the
// error and exits 1.
func dial(addr string) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Print(string(b))
	os.Exit(0)
}

// helper returns a Command of the test binary as helper what in ns.
func helper(n *Net, ns, what string, env ...string) *exec.Cmd {
	cmd := n.Command(ns, os.Args[0])
	cmd.Env = append(append(cmd.Env, helperEnv+"="+what), env...)
	return cmd
}

// dialFrom dials addr from ns and returns what it read, or the error.
func dialFrom(t *testing.T, n *Net, ns, addr string) (string, error) {
	t.Helper()
	out, err := helper(n, ns, "dial", "NETNSTEST_ADDR="+addr).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// startListener starts the listener in the host's namespace and returns
// its pid and its child's.
func startListener(t *testing.T, n *Net) (pid, child int) {
	t.Helper()
	cmd := helper(n, n.Host, "listen")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 2 || f[0] != "ready" {
		t.Fatalf("listener: %q, %v", line, err)
	}
	child, _ = strconv.Atoi(f[1])
	return cmd.Process.Pid, child
}

// TestAgentsReachHost: each agent reaches a listener in the host's
// namespace at 10.k.0.1, not at 127.0.0.1 (its own loopback); with agent
// 1's link down it cannot connect while agent 2 still can, and with the
// link up again it can. The listener and its child carry the marker of
// the host's namespace.
func TestAgentsReachHost(t *testing.T) {
	n := New(t, 2)
	pid, child := startListener(t, n)
	for k := 1; k <= 2; k++ {
		got, err := dialFrom(t, n, n.Agents[k-1], n.HostAddr(k)+":"+port)
		if err != nil || got != "hello from "+n.Host {
			t.Errorf("agent %d to %s: %q, %v; want the host's answer", k, n.HostAddr(k), got, err)
		}
	}
	if got, err := dialFrom(t, n, n.Agents[0], "127.0.0.1:"+port); err == nil {
		t.Errorf("agent 1 reached the host's listener on its own loopback: %q", got)
	}
	if got, err := dialFrom(t, n, n.Agents[0], n.HostAddr(2)+":"+port); err == nil {
		t.Errorf("agent 1 reached the host over agent 2's link: %q", got)
	}

	n.LinkDown(1)
	if got, err := dialFrom(t, n, n.Agents[0], n.HostAddr(1)+":"+port); err == nil {
		t.Errorf("agent 1 reached the host with its link down: %q", got)
	} else {
		t.Logf("agent 1, link down: %v", err)
	}
	if got, err := dialFrom(t, n, n.Agents[1], n.HostAddr(2)+":"+port); err != nil {
		t.Errorf("agent 2, with agent 1's link down: %q, %v", got, err)
	}
	n.LinkUp(1)
	if got, err := dialFrom(t, n, n.Agents[0], n.HostAddr(1)+":"+port); err != nil || got != "hello from "+n.Host {
		t.Errorf("agent 1, link up again: %q, %v", got, err)
	}

	procs := n.Procs(n.Host)
	if !slices.Contains(procs, pid) || !slices.Contains(procs, child) {
		t.Errorf("Procs(host) = %v; want the listener %d and its child %d", procs, pid, child)
	}
	if procs := n.Procs(n.Agents[0]); len(procs) != 0 {
		t.Errorf("Procs(agent 1) = %v; its dials have exited", procs)
	}
	if env := Environ(child); !slices.Contains(env, MarkerEnv+"="+n.Host) {
		t.Errorf("the listener's child's environment lacks %s=%s: %v", MarkerEnv, n.Host, env)
	}
}

// TestCleanup: when the test ends, what was started in its namespaces is
// dead, the child of a process started there too, and the namespaces are
// gone.
func TestCleanup(t *testing.T) {
	var n *Net
	var pid, child int
	t.Run("net", func(t *testing.T) {
		n = New(t, 1)
		pid, child = startListener(t, n)
	})
	if n == nil {
		t.Fatal("no Net")
	}
	for _, p := range []int{pid, child} {
		if alive(p) {
			t.Errorf("process %d outlived its test", p)
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	}
	list := netnsList(t)
	for _, ns := range append([]string{n.Host}, n.Agents...) {
		if slices.Contains(list, ns) {
			t.Errorf("namespace %s outlived its test", ns)
		}
	}
}

func netnsList(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// TestSweep: New deletes a namespace of this package's whose process is
// gone, and keeps one whose process lives.
func TestSweep(t *testing.T) {
	n := New(t, 0) // skips where namespaces cannot be made
	dead := 0
	for p := 4194000; p > 1000; p-- {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); os.IsNotExist(err) {
			dead = p
			break
		}
	}
	gone := fmt.Sprintf("th%dn1a3", dead)
	kept := fmt.Sprintf("th%dn999999h", os.Getpid())
	for _, ns := range []string{gone, kept} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	New(t, 0)
	list := netnsList(t)
	if slices.Contains(list, gone) {
		t.Errorf("namespace %s of a process that is gone was left", gone)
	}
	if !slices.Contains(list, kept) || !slices.Contains(list, n.Host) {
		t.Errorf("namespaces %s and %s of this live process were swept: %v", kept, n.Host, list)
	}
}
