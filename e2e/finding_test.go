package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const findingJob = `
job "finding" {}
task "good" {
  pack = "testpack"
  task = "pass"
}
task "bad" {
  pack = "testpack"
  task = "fail"
}
task "after" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.bad]
}
`

// taskhostIn runs the taskhost binary in dir.
func taskhostIn(t *testing.T, dir string, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "taskhost"), args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return runResult{code: code, stdout: stdout.String(), stderr: stderr.String(), runsDir: filepath.Join(dir, "runs")}
}

// Every command that reads a past run takes it the same ways: a run id
// in --runs-dir, a run directory, an archive, and "last".
func TestEveryCommandNamesARunTheSameWays(t *testing.T) {
	t.Parallel()
	path := job(t, findingJob)
	first := taskhost(t, "run", "--archive", path)
	if first.code != 1 {
		t.Fatalf("run: exit %d\n%s\n%s", first.code, first.stdout, first.stderr)
	}
	dir := first.runDir(t)
	id := filepath.Base(dir)
	zips, _ := filepath.Glob(filepath.Join(first.runsDir, "archive", "*", id+".zip"))
	if len(zips) != 1 {
		t.Fatalf("archives: %v\n%s", zips, first.stdout)
	}
	runs := first.runsDir
	for name, ref := range map[string]string{"id": id, "dir": dir, "archive": zips[0], "last": "last"} {
		t.Run(name, func(t *testing.T) {
			show := taskhost(t, "results", "show", "--runs-dir", runs, ref)
			if show.code != 0 || !strings.Contains(show.stdout, "Run "+id) {
				t.Errorf("results show %s: exit %d\n%s%s", ref, show.code, show.stdout, show.stderr)
			}
			logs := taskhost(t, "logs", "--runs-dir", runs, ref, "bad")
			if logs.code != 0 || !strings.Contains(logs.stdout, "failed on purpose") {
				t.Errorf("logs %s bad: exit %d\n%s%s", ref, logs.code, logs.stdout, logs.stderr)
			}
			// An error names the run as found, not a temporary directory.
			if nosuch := taskhost(t, "logs", "--runs-dir", runs, ref, "nosuch"); nosuch.code != 2 || strings.Contains(nosuch.stderr, os.TempDir()+"/taskhost-run-") {
				t.Errorf("logs %s nosuch: exit %d\n%s", ref, nosuch.code, nosuch.stderr)
			}
			rep := taskhost(t, "report", "--runs-dir", runs, ref)
			if rep.code != 0 || !strings.Contains(rep.stdout, "report.html") {
				t.Errorf("report %s: exit %d\n%s%s", ref, rep.code, rep.stdout, rep.stderr)
			}
			// --list with --rerun lists the rerun's tasks: not good.
			list := taskhost(t, "run", "--runs-dir", runs, "--rerun", ref, "--list", path)
			if list.code != 0 || !strings.Contains(list.stdout, "\nbad ") || !strings.Contains(list.stdout, "\nafter ") ||
				strings.Contains(list.stdout, "\ngood ") || !strings.Contains(list.stdout, "2 tasks") {
				t.Errorf("run --rerun %s --list: exit %d\n%s%s", ref, list.code, list.stdout, list.stderr)
			}
		})
	}
}

// "last" with no run to name is an error that says so, and nothing runs.
func TestLastWithNoRun(t *testing.T) {
	t.Parallel()
	path := job(t, findingJob)
	empty := filepath.Join(t.TempDir(), "runs")
	for _, args := range [][]string{
		{"run", "--runs-dir", empty, "--rerun", "last", path},
		{"logs", "--runs-dir", empty, "last"},
		{"report", "--runs-dir", empty, "last"},
		{"results", "show", "--runs-dir", empty, "last"},
	} {
		r := taskhost(t, args...)
		if r.code != 2 || !strings.Contains(r.stderr, "no run in "+empty) {
			t.Errorf("%s: exit %d, want 2 and \"no run in %s\"\n%s%s", strings.Join(args, " "), r.code, empty, r.stdout, r.stderr)
		}
		if entries, _ := os.ReadDir(empty); len(entries) > 0 {
			t.Errorf("%s made %v", strings.Join(args, " "), entries)
		}
	}
}

// `packs describe NAME` runs a pack binary NAME in the current directory,
// as its help says.
func TestPacksDescribeFileHere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(bin, "testpack"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mypack"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	r := taskhostIn(t, dir, "packs", "describe", "mypack")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "testpack"`) {
		t.Errorf("packs describe mypack: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// The packs directory is found from the jobfile's place, as its lock
// file is: the job runs from another directory.
func TestPacksDirFollowsTheJobfile(t *testing.T) {
	t.Parallel()
	top := t.TempDir()
	sub := filepath.Join(top, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	src := `
required_packs {
  testpack = { version = ">= 1.0" }
}
job "sub" {}
task "a" {
  pack = "testpack"
  task = "pass"
}
`
	if err := os.WriteFile(filepath.Join(sub, "job.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"packs", "install", filepath.Join(bin, "testpack")},
		{"packs", "lock", "job.hcl"},
		{"run", "--runs-dir", "runs", "job.hcl"},
	} {
		if r := taskhostIn(t, sub, args...); r.code != 0 {
			t.Fatalf("in sub: %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	// From the directory above, and from the jobs' own directory below.
	r := taskhostIn(t, top, "run", "--runs-dir", "runs", filepath.Join("sub", "job.hcl"))
	if r.code != 0 {
		t.Errorf("cd .. && taskhost run sub/job.hcl: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if v := taskhostIn(t, top, "packs", "verify", filepath.Join("sub", "job.hcl")); v.code != 0 {
		t.Errorf("cd .. && taskhost packs verify sub/job.hcl: exit %d\n%s%s", v.code, v.stdout, v.stderr)
	}
	// Where nothing is installed, the error names where it looked and
	// --packs-dir.
	other := t.TempDir()
	if err := os.Rename(filepath.Join(sub, ".taskhost"), filepath.Join(other, ".taskhost")); err != nil {
		t.Fatal(err)
	}
	r = taskhostIn(t, top, "run", "--runs-dir", "runs", filepath.Join("sub", "job.hcl"))
	if r.code != 2 || !strings.Contains(r.stderr, filepath.Join("sub", ".taskhost", "packs")) || !strings.Contains(r.stderr, "--packs-dir") {
		t.Errorf("no packs directory: exit %d, want 2 naming sub/.taskhost/packs and --packs-dir\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = taskhostIn(t, top, "run", "--runs-dir", "runs", "--packs-dir", filepath.Join(other, ".taskhost", "packs"), filepath.Join("sub", "job.hcl"))
	if r.code != 0 {
		t.Errorf("with --packs-dir: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// serve starts `taskhost report ARGS --serve` and returns the address it
// prints, stopping it at the end of the test.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "taskhost"), append(append([]string{"report"}, args...), "--serve")...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("report --serve after an interrupt: %v\n%s", err, stderr.String())
		}
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, u, ok := strings.Cut(sc.Text(), "Serving the report on "); ok {
			u, _, _ = strings.Cut(u, " ")
			go io.Copy(io.Discard, out)
			return u
		}
	}
	cmd.Process.Kill()
	t.Fatalf("no address printed\n%s", stderr.String())
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// report --serve serves the run directory (the page, the logs, junit.xml,
// results.json) and a page of the past runs, read-only, and nothing
// outside the runs directory.
func TestReportServesTheRunDirectory(t *testing.T) {
	t.Parallel()
	path := job(t, findingJob)
	first := taskhost(t, "run", "--archive", path)
	dir := first.runDir(t)
	id := filepath.Base(dir)
	second := taskhost(t, "run", "--runs-dir", first.runsDir, path)
	if second.code != 1 {
		t.Fatalf("second run: exit %d\n%s%s", second.code, second.stdout, second.stderr)
	}
	secret := filepath.Join(filepath.Dir(first.runsDir), "secret.txt")
	if err := os.WriteFile(secret, []byte("not for the web"), 0o644); err != nil {
		t.Fatal(err)
	}
	url := serve(t, "--runs-dir", first.runsDir, id)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("served on %q, want loopback", url)
	}
	base, _, _ := strings.Cut(url, id)
	for p, want := range map[string]string{
		"":                   "<html",
		"report.html":        "<html",
		"junit.xml":          "<testsuites",
		"results.json":       `"tasks"`,
		"job.log":            "",
		"tasks/bad/task.log": "failed on purpose",
		"tasks/bad/":         "task.log",
	} {
		code, body := get(t, strings.TrimSuffix(url, "/")+"/"+p)
		if p == "" {
			code, body = get(t, url)
		}
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s%s: %d, want 200 with %q:\n%.300s", url, p, code, want, body)
		}
	}
	// The list of past runs links to both.
	code, body := get(t, base)
	if code != 200 || strings.Count(body, "href=") < 2 || !strings.Contains(body, id) || !strings.Contains(body, filepath.Base(first.runDir2(t, id))) {
		t.Errorf("GET %s (the runs): %d\n%s", base, code, body)
	}
	// Nothing outside the runs directory, and nothing written.
	for _, p := range []string{"../secret.txt", "%2e%2e/secret.txt", id + "/../../secret.txt", id + "/%2e%2e/%2e%2e/secret.txt"} {
		code, body := get(t, base+p)
		if code == 200 || strings.Contains(body, "not for the web") {
			t.Errorf("GET %s%s: %d\n%s", base, p, code, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, url+"results.json", strings.NewReader("{}"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("PUT results.json: %s, want 405", resp.Status)
	}
	// An archive is served from the archive.
	zips, _ := filepath.Glob(filepath.Join(first.runsDir, "archive", "*", id+".zip"))
	if len(zips) != 1 {
		t.Fatalf("archives: %v", zips)
	}
	empty := filepath.Join(t.TempDir(), "runs")
	url = serve(t, "--runs-dir", empty, zips[0])
	if code, body := get(t, url+"tasks/bad/task.log"); code != 200 || !strings.Contains(body, "failed on purpose") {
		t.Errorf("GET %stasks/bad/task.log from the archive: %d\n%s", url, code, body)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Errorf("serving an archive wrote %s", empty)
	}
	// Only on loopback.
	if r := taskhost(t, "report", "--serve", "--addr", "0.0.0.0:0", dir); r.code != 2 || !strings.Contains(r.stderr, "localhost only") {
		t.Errorf("--addr 0.0.0.0:0: exit %d\n%s", r.code, r.stderr)
	}
}

// runDir2 returns the run directory of r.runsDir other than the one
// named not.
func (r runResult) runDir2(t *testing.T, not string) string {
	t.Helper()
	entries, _ := os.ReadDir(r.runsDir)
	for _, e := range entries {
		if e.Name() != not && e.Name() != "archive" {
			return filepath.Join(r.runsDir, e.Name())
		}
	}
	t.Fatalf("no second run in %s", r.runsDir)
	return ""
}
