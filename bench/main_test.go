// Package bench measures taskhost against physical floors and peers, in the
// same run: `make bench` runs it, and docs/performance.md records the
// figures. The benchmarks build the binaries they run once, in TestMain,
// and only when benchmarks were asked for.
package bench

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run()) // no benchmarks asked for: nothing to build
	}
	dir, err := os.MkdirTemp("", "taskhost-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "../cmd/taskhost", "../internal/testpack")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeJob writes a jobfile using the test pack into dir.
func writeJob(b *testing.B, dir, body string) string {
	b.Helper()
	src := fmt.Sprintf("pack \"testpack\" { path = %q }\n", filepath.Join(bin, "testpack")) + body
	path := filepath.Join(dir, "job.hcl")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// timed runs a command and returns its wall time; it fails the benchmark
// if the command fails (exit 1, some task not passing, included).
func timed(b *testing.B, name string, args ...string) time.Duration {
	b.Helper()
	return timedEnv(b, nil, name, args...)
}

// timedEnv is timed with the environment env (nil: this process's).
func timedEnv(b *testing.B, env []string, name string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := os.CreateTemp(b.TempDir(), "out-")
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		tail, _ := os.ReadFile(out.Name())
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		b.Fatalf("%s %v: %v\n%s", name, args, err, tail)
	}
	return d
}

// runTaskhost runs a jobfile and returns the wall time, the host's peak
// RSS in MiB (from job.log) and the run directory.
func runTaskhost(b *testing.B, job string) (time.Duration, float64, string) {
	b.Helper()
	runs := b.TempDir()
	d := timed(b, filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, job)
	entries, err := os.ReadDir(runs)
	if err != nil || len(entries) != 1 {
		b.Fatalf("want one run directory: %v %v", entries, err)
	}
	dir := filepath.Join(runs, entries[0].Name())
	rss, err := peakRSS(filepath.Join(dir, "job.log"))
	if err != nil {
		b.Fatal(err)
	}
	return d, rss, dir
}

var peakRe = regexp.MustCompile(`peak_rss_kb=(\d+)`)

func peakRSS(jobLog string) (float64, error) {
	f, err := os.Open(jobLog)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := peakRe.FindStringSubmatch(sc.Text()); m != nil {
			kb, _ := strconv.ParseFloat(m[1], 64)
			return kb / 1024, nil
		}
	}
	return 0, errors.New("job.log has no peak_rss_kb")
}
