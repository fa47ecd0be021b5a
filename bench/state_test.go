package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkState: the run's shared state against Redis, side by side, from
// 1 and from 4 client processes: GET/Get, SET/Put, INCR/Add, and a
// compare-and-set (WATCH/MULTI/EXEC against Get + CompareAndSwap).
// Each client process does stateOps operations; the figures are operations
// per second over the slowest process's loop, and p50/p99 latency over all.
func BenchmarkState(b *testing.B) {
	redis, err := exec.LookPath("redis-server")
	if err != nil {
		b.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	for _, procs := range []int{1, 4} {
		for _, op := range []string{"get", "put", "add", "cas"} {
			b.Run(fmt.Sprintf("%s/procs=%d", op, procs), func(b *testing.B) {
				var th, rd stateResult
				for b.Loop() {
					th = taskhostState(b, op, procs)
					rd = redisState(b, redis, op, procs)
				}
				b.ReportMetric(th.opsPerSec, "th-ops/s")
				b.ReportMetric(rd.opsPerSec, "redis-ops/s")
				b.ReportMetric(th.p50, "th-p50-µs")
				b.ReportMetric(rd.p50, "redis-p50-µs")
				b.ReportMetric(th.p99, "th-p99-µs")
				b.ReportMetric(rd.p99, "redis-p99-µs")
				b.ReportMetric(rd.opsPerSec/th.opsPerSec, "x-redis")
			})
		}
	}
}

const stateOps = 5000

type stateResult struct {
	opsPerSec, p50, p99 float64
}

// clientRun is what one client process measured.
type clientRun struct {
	ElapsedNs int64   `json:"elapsed_ns"`
	LatUs     []int64 `json:"lat_us"`
}

func summarize(runs []clientRun) stateResult {
	var all []int64
	var slowest int64
	for _, r := range runs {
		all = append(all, r.LatUs...)
		slowest = max(slowest, r.ElapsedNs)
	}
	slices.Sort(all)
	return stateResult{
		opsPerSec: float64(len(all)) / (float64(slowest) / 1e9),
		p50:       float64(all[len(all)/2]),
		p99:       float64(all[len(all)*99/100]),
	}
}

func taskhostState(b *testing.B, op string, procs int) stateResult {
	b.Helper()
	dir := b.TempDir()
	var body strings.Builder
	fmt.Fprintf(&body, "job \"state\" { max_parallel = %d }\n", procs)
	for i := range procs {
		fmt.Fprintf(&body, "task \"c%d\" {\n  pack = \"testpack\"\n  task = \"statebench\"\n  args = { op = %q, n = %d, key = \"k\", procs = %d }\n}\n", i, op, stateOps, procs)
	}
	_, _, runDir := runTaskhost(b, writeJob(b, dir, body.String()))
	raw, err := os.ReadFile(filepath.Join(runDir, "results.json"))
	if err != nil {
		b.Fatal(err)
	}
	var f struct {
		Report struct {
			Tasks []struct {
				Result struct {
					Data clientRun `json:"data"`
				} `json:"result"`
			} `json:"tasks"`
		} `json:"report"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		b.Fatal(err)
	}
	var runs []clientRun
	for _, t := range f.Report.Tasks {
		if len(t.Result.Data.LatUs) != stateOps {
			b.Fatalf("a client did %d operations, want %d", len(t.Result.Data.LatUs), stateOps)
		}
		runs = append(runs, t.Result.Data)
	}
	return summarize(runs)
}

// redisState starts redis-server and procs client processes (this test
// binary again, as a helper) that each run stateOps operations.
func redisState(b *testing.B, server, op string, procs int) stateResult {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	srv := exec.Command(server, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	addr := "127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("redis-server did not start")
		}
	}
	rc := dialRESP(b, addr)
	rc.do(b, "SET", "k", "0")
	rc.close()

	runs := make([]clientRun, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestRedisClientHelper$")
			cmd.Env = append(os.Environ(), "BENCH_REDIS_CLIENT="+addr+"|"+op+"|"+strconv.Itoa(stateOps)+"|"+strconv.Itoa(procs))
			out, err := cmd.Output()
			if err != nil {
				b.Errorf("redis client: %v", err)
				return
			}
			for line := range strings.SplitSeq(string(out), "\n") {
				if strings.HasPrefix(line, "{") {
					_ = json.Unmarshal([]byte(line), &runs[i])
				}
			}
		}()
	}
	wg.Wait()
	for _, r := range runs {
		if len(r.LatUs) != stateOps {
			b.Fatalf("a redis client did %d operations", len(r.LatUs))
		}
	}
	return summarize(runs)
}

// TestRedisClientHelper is a Redis client process for BenchmarkState; it
// does nothing unless started by it.
func TestRedisClientHelper(t *testing.T) {
	env := os.Getenv("BENCH_REDIS_CLIENT")
	if env == "" {
		t.Skip("helper process for BenchmarkState")
	}
	p := strings.Split(env, "|")
	n, _ := strconv.Atoi(p[2])
	procs, _ := strconv.Atoi(p[3])
	c := dialRESP(t, p[0])
	defer c.close()
	// The clients start their loops together, as the taskhost tasks do at
	// a barrier: each counts itself in, and waits until all have.
	c.do(t, "INCR", "ready")
	for c.do(t, "GET", "ready") != strconv.Itoa(procs) {
		time.Sleep(time.Millisecond)
	}
	lat := make([]int64, 0, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		switch p[1] {
		case "get":
			c.do(t, "GET", "k")
		case "put":
			c.do(t, "SET", "k", strconv.Itoa(i))
		case "add":
			c.do(t, "INCR", "k")
		case "cas":
			for {
				c.do(t, "WATCH", "k")
				v, _ := strconv.Atoi(c.do(t, "GET", "k"))
				c.do(t, "MULTI")
				c.do(t, "SET", "k", strconv.Itoa(v+1))
				if c.do(t, "EXEC") != "" { // nil: the key changed; try again
					break
				}
			}
		}
		lat = append(lat, time.Since(t0).Microseconds())
	}
	out, _ := json.Marshal(clientRun{ElapsedNs: time.Since(start).Nanoseconds(), LatUs: lat})
	fmt.Println(string(out))
}

// resp is a minimal RESP2 client: enough for the commands above.
type resp struct {
	c net.Conn
	r *bufio.Reader
}

func dialRESP(tb testing.TB, addr string) *resp {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	return &resp{c: c, r: bufio.NewReader(c)}
}

func (r *resp) close() { r.c.Close() }

// do sends a command and returns its reply as text ("" for nil; the
// number of elements for an array, whose elements are read and dropped).
func (r *resp) do(tb testing.TB, args ...string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&sb, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := r.c.Write([]byte(sb.String())); err != nil {
		tb.Fatal(err)
	}
	return r.reply(tb)
}

func (r *resp) reply(tb testing.TB) string {
	line, err := r.r.ReadString('\n')
	if err != nil {
		tb.Fatal(err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '+', ':':
		return line[1:]
	case '-':
		tb.Fatalf("redis: %s", line[1:])
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return ""
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r.r, buf); err != nil {
			tb.Fatal(err)
		}
		return string(buf[:n])
	case '*':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return ""
		}
		for range n {
			r.reply(tb)
		}
		return strconv.Itoa(n)
	}
	tb.Fatalf("redis: unexpected reply %q", line)
	return ""
}
