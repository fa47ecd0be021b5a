package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// agentsJob writes a jobfile of n tasks that do nothing but pass, at most
// slots at a time, placed on agents labelled bench=1 if placed.
func agentsJob(b *testing.B, n, slots int, placed bool) string {
	b.Helper()
	var body strings.Builder
	fmt.Fprintf(&body, "job \"agents\" {\n  max_parallel = %d\n", slots)
	if placed {
		body.WriteString("  placement { labels = { bench = \"1\" } }\n")
	}
	body.WriteString("}\n")
	for i := range n {
		fmt.Fprintf(&body, "task \"t%d\" {\n  pack = \"testpack\"\n  task = \"pass\"\n}\n", i)
	}
	return writeJob(b, b.TempDir(), body.String())
}

// BenchmarkAgents: 1,000 trivial tasks run by 2 agents of 2 slots each,
// on this machine, against the same 1,000 tasks run by the host alone with
// the same 4 slots. The ratio of the wall times is what going through the
// work queue costs a task (the target is 1.3x at most). The agents reach
// the hub over TLS on loopback, as agents on other machines would over
// the network; their pack cache is warm after the first run.
func BenchmarkAgents(b *testing.B) {
	const n, agents, slots = 1000, 2, 2
	th := filepath.Join(bin, "taskhost")
	lab := filepath.Join(b.TempDir(), "lab")
	env := append(os.Environ(), "TASKHOST_LAB="+lab)
	run := func(args ...string) {
		cmd := exec.Command(th, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("taskhost %v: %v\n%s", args, err, out)
		}
	}
	run("agent", "init", "--host", "127.0.0.1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var cmds []*exec.Cmd
	defer func() {
		cancel()
		for _, c := range cmds {
			_ = c.Wait()
		}
	}()
	for i := 1; i <= agents; i++ {
		name := fmt.Sprintf("b%d", i)
		run("agent", "add", name)
		cmd := exec.CommandContext(ctx, th, "agent", "--hub", fmt.Sprintf("tls://127.0.0.1:%d", port), "--name", name,
			"--key", filepath.Join(lab, name+".seed"), "--ca", filepath.Join(lab, "hub-cert.pem"),
			"--labels", "bench=1", "--slots", fmt.Sprint(slots), "--cache", filepath.Join(b.TempDir(), "cache"), "--log-level", "warn")
		cmd.Env = env
		cmd.Stderr = os.Stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 30 * time.Second
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	local := agentsJob(b, n, agents*slots, false)
	placed := agentsJob(b, n, agents*slots, true)
	var tl, ta time.Duration
	for b.Loop() {
		d, _, _ := runTaskhost(b, local)
		tl += d
		runs := b.TempDir()
		ta += timedEnv(b, env, th, "run", "--runs-dir", runs, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--agent-wait", "60s", placed)
	}
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) / n }
	b.ReportMetric(per(tl), "local-ms/task")
	b.ReportMetric(per(ta), "agents-ms/task")
	b.ReportMetric(float64(ta)/float64(tl), "x-local")
}
