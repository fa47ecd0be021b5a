package python_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhost/taskhost/internal/testfault"
)

// BenchmarkPythonHub measures the Python SDK's hub side against the
// host's hub, each figure beside its floor: events/s of the emitter for
// 200,000 events (100,000 steps), flush included, against the same
// events encoded and written to a file by hand; adds/s of the state
// client from 1 and 4 processes against redis-py's INCR on a local
// redis-server (skipped without one). Figures are logged
// (go test -run '^$' -bench PythonHub -v ./sdk/python).
func BenchmarkPythonHub(b *testing.B) {
	if _, err := os.Stat(python3); err != nil {
		b.Skip("no " + python3)
	}
	for range b.N {
		h, _ := startHub(b, testfault.Faults{})
		env := hubJSON(b, h.AddTask("rate", 1, ""))
		hub := strings.TrimSpace(run(b, env, "emit_rate.py", "200000"))
		file := strings.TrimSpace(run(b, env, "emit_rate.py", "200000", "file"))
		b.Logf("events/s: emitter to the hub %s, by hand to a file %s", hub, file)
		for _, procs := range []int{1, 4} {
			b.Logf("adds/s from %d process(es): state client %s", procs, parallel(b, procs, env, "add_rate.py", "20000"))
		}
		if port, stop := redisServer(b); stop != nil {
			for _, procs := range []int{1, 4} {
				b.Logf("adds/s from %d process(es): redis-py INCR %s", procs, parallel(b, procs, env, "add_rate.py", "20000", "redis", port))
			}
			stop()
		}
	}
}

// parallel runs procs copies of a script at once and returns the sum of
// the rates they print.
func parallel(b *testing.B, procs int, env string, args ...string) string {
	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v int
			fmt.Sscan(run(b, env, args[0], args[1:]...), &v)
			mu.Lock()
			sum += v
			mu.Unlock()
		}()
	}
	wg.Wait()
	return fmt.Sprint(sum)
}

func redisServer(b *testing.B) (string, func()) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		b.Log("no redis-server: the Redis floor is not measured")
		return "", nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	for range 100 {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return port, func() { cmd.Process.Kill(); cmd.Wait() }
}
