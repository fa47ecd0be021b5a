package bench

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/results"
)

// python3 is Debian's interpreter, which the Python pack of these
// benchmarks runs with (the first python3 on PATH may be another one).
const python3 = "/usr/bin/python3"

var pyBuild struct {
	once sync.Once
	path string
	err  error
}

// pyPack builds testdata/pybench with the Python SDK of this checkout
// (python3 -m taskhost build) into the benchmarks' binaries, once, and
// returns its path; it skips the benchmark without Debian's python3.
func pyPack(b *testing.B) string {
	b.Helper()
	if _, err := os.Stat(python3); err != nil {
		b.Skip("no " + python3 + " (scripts/test-deps)")
	}
	pyBuild.once.Do(func() {
		pyBuild.path = filepath.Join(bin, "pybench")
		cmd := exec.Command(python3, "-m", "taskhost", "build", "testdata/pybench", "-o", pyBuild.path, "--python", python3)
		cmd.Env = append(os.Environ(), "PYTHONPATH=../sdk/python")
		if out, err := cmd.CombinedOutput(); err != nil {
			pyBuild.err = fmt.Errorf("python3 -m taskhost build: %v\n%s", err, out)
		}
	})
	if pyBuild.err != nil {
		b.Fatal(pyBuild.err)
	}
	return pyBuild.path
}

// writePyJob writes a jobfile using the Python bench pack (as "pybench")
// and the Go test pack (as "testpack") into dir.
func writePyJob(b *testing.B, dir, body string) string {
	b.Helper()
	return writeJob(b, dir, fmt.Sprintf("pack \"pybench\" { path = %q }\n", pyPack(b))+body)
}

// trivialJobOf writes a jobfile of n tasks of pack's pass, two at a time.
func trivialJobOf(b *testing.B, pack string, n int) string {
	b.Helper()
	var body strings.Builder
	body.WriteString("job \"trivial\" { max_parallel = 2 }\n")
	for i := range n {
		fmt.Fprintf(&body, "task \"t%d\" {\n  pack = %q\n  task = \"pass\"\n}\n", i, pack)
	}
	return writePyJob(b, b.TempDir(), body.String())
}

// BenchmarkPythonLaunch: 500 trivial Python tasks, two at a time, by
// taskhost run, against the floor of xargs -P2 running the same pack's
// run mode 500 times by hand; the Go test pack's figures (taskhost and
// xargs) in the same run, for comparison.
func BenchmarkPythonLaunch(b *testing.B) {
	const n = 500
	py := pyPack(b)
	pyJob, goJob := trivialJobOf(b, "pybench", n), trivialJobOf(b, "testpack", n)
	xargs := func(pack string) []string {
		return []string{"sh", "-c", fmt.Sprintf("seq %d | xargs -P2 -I{} %s run pass -q --log /dev/null", n, pack)}
	}
	pyFloor, goFloor := xargs(py), xargs(filepath.Join(bin, "testpack"))
	var pyHost, pyX, goHost, goX time.Duration
	var rss float64
	for b.Loop() {
		d, r, _ := runTaskhost(b, pyJob)
		pyHost += d
		rss = max(rss, r)
		pyX += timed(b, pyFloor[0], pyFloor[1:]...)
		d, _, _ = runTaskhost(b, goJob)
		goHost += d
		goX += timed(b, goFloor[0], goFloor[1:]...)
	}
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) / n }
	b.ReportMetric(per(pyHost), "py-ms/task")
	b.ReportMetric(per(pyX), "py-xargs-ms/task")
	b.ReportMetric(float64(pyHost)/float64(pyX), "x-py-xargs")
	b.ReportMetric(per(goHost), "go-ms/task")
	b.ReportMetric(per(goX), "go-xargs-ms/task")
	b.ReportMetric(float64(pyHost)/float64(goHost), "py/go")
	b.ReportMetric(rss, "host-peak-MiB")
}

// BenchmarkPythonReporting: one Python task reports 100,000 steps
// (200,000 events); the time until the run ends, against the floor of
// the same task run by hand writing its events to a file.
func BenchmarkPythonReporting(b *testing.B) {
	const steps = 100000
	dir := b.TempDir()
	job := writePyJob(b, dir, `
job "reporting" {}
task "many" {
  pack = "pybench"
  task = "many"
  args = { n = `+strconv.Itoa(steps)+` }
}
`)
	var host, floor time.Duration
	var rss float64
	for b.Loop() {
		d, r, runDir := runTaskhost(b, job)
		host += d
		rss = max(rss, r)
		f, err := results.Read(filepath.Join(runDir, "results.json"))
		if err != nil || len(f.Report.Tasks[0].Sections) != steps {
			b.Fatalf("results.json does not hold %d steps: %v", steps, err)
		}
		events := filepath.Join(dir, "events.jsonl")
		floor += timed(b, pyPack(b), "run", "many", "--arg", "n="+strconv.Itoa(steps),
			"--events", events, "--log", filepath.Join(dir, "floor.log"), "-q")
		os.Remove(events)
		os.Remove(filepath.Join(dir, "floor.log"))
	}
	n := float64(b.N)
	b.ReportMetric(host.Seconds()/n, "host-s")
	b.ReportMetric(floor.Seconds()/n, "floor-s")
	b.ReportMetric(host.Seconds()/floor.Seconds(), "x-floor")
	b.ReportMetric(2*steps*n/host.Seconds(), "events/s")
	b.ReportMetric(rss, "host-peak-MiB")
}

// pyStateOps is how many adds each client process does.
const pyStateOps = 5000

// BenchmarkPythonState: the shared state's add from 1 and 4 Python task
// processes, against INCR by Debian's python3-redis on a redis-server
// started here, from as many processes, in the same run. Each process
// starts its loop when all have reached a barrier; ops/s over the
// slowest process's loop, latencies over all.
func BenchmarkPythonState(b *testing.B) {
	server, err := exec.LookPath("redis-server")
	if err != nil {
		b.Skip("redis-server is not installed (scripts/test-deps --bench)")
	}
	if err := exec.Command(python3, "-c", "import redis").Run(); err != nil {
		b.Skip("python3-redis is not installed (scripts/test-deps --bench)")
	}
	for _, procs := range []int{1, 4} {
		b.Run(fmt.Sprintf("add/procs=%d", procs), func(b *testing.B) {
			var th, rd stateResult
			for b.Loop() {
				th = pyTaskhostAdd(b, procs)
				rd = pyRedisIncr(b, server, procs)
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

func pyTaskhostAdd(b *testing.B, procs int) stateResult {
	b.Helper()
	var body strings.Builder
	fmt.Fprintf(&body, "job \"state\" { max_parallel = %d }\n", procs)
	for i := range procs {
		fmt.Fprintf(&body, "task \"c%d\" {\n  pack = \"pybench\"\n  task = \"add\"\n  args = { n = %d, key = \"k\", procs = %d }\n}\n", i, pyStateOps, procs)
	}
	_, _, runDir := runTaskhost(b, writePyJob(b, b.TempDir(), body.String()))
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
		if len(t.Result.Data.LatUs) != pyStateOps {
			b.Fatalf("a client did %d adds, want %d", len(t.Result.Data.LatUs), pyStateOps)
		}
		runs = append(runs, t.Result.Data)
	}
	return summarize(runs)
}

// pyRedisIncr starts redis-server and procs python3-redis clients
// (testdata/redis_incr.py) that each INCR pyStateOps times.
func pyRedisIncr(b *testing.B, server string, procs int) stateResult {
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
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("redis-server did not start")
		}
	}
	runs := make([]clientRun, procs)
	errs := make([]error, procs)
	var wg sync.WaitGroup
	for i := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(python3, "testdata/redis_incr.py", port, "k", strconv.Itoa(pyStateOps), strconv.Itoa(procs)).Output()
			if err == nil {
				err = json.Unmarshal(out, &runs[i])
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, r := range runs {
		if errs[i] != nil || len(r.LatUs) != pyStateOps {
			b.Fatalf("a redis client did %d INCRs: %v", len(r.LatUs), errs[i])
		}
	}
	return summarize(runs)
}
