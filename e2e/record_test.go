package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/internal/statekv"
	"github.com/taskhost/taskhost/sdk/result"
)

// recoverAgrees runs `taskhost results recover` on a finished run and
// checks that the record it rebuilds from the hub's store holds each task
// exactly as the live host wrote it.
func recoverAgrees(t *testing.T, runDir string, ids ...string) {
	t.Helper()
	live, err := results.Read(filepath.Join(runDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := taskhost(t, "results", "recover", runDir)
	if r.code != 0 {
		t.Fatalf("recover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	rec, err := results.Read(filepath.Join(runDir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if d := cmp.Diff(taskByID(t, live, id), taskByID(t, rec, id), cmpopts.IgnoreUnexported(report.Node{})); d != "" {
			t.Errorf("task %s: the recovered record differs from the live one (-live +recovered):\n%s", id, d)
		}
	}
}

// One task's children publish, with the task's own credentials, an event
// whose data is not JSON and one that names /etc/passwd as its log file.
// Each is refused and recorded against its own task; every file of the
// run is written, the other task's record is whole, and `results
// recover` rebuilds the same records.
func TestBadEventCostsOnlyItsTask(t *testing.T) {
	t.Parallel()
	path := job(t, `
job "bad" {}
task "bad" {
  pack = "testpack"
  task = "badevent"
}
task "badlog" {
  pack = "testpack"
  task = "badevent"
  args = { mode = "logfile" }
}
task "good" {
  pack = "testpack"
  task = "many"
  args = { n = 50 }
}
`)
	r := taskhost(t, "run", path)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (tasks did not pass)\n%s%s", r.code, r.stdout, r.stderr)
	}
	dir := r.runDir(t)
	for _, f := range []string{"results.json", "junit.xml", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	f := r.results(t)
	good := taskByID(t, f, "good")
	if good.Result.Value != result.Passed || len(good.Sections) != 50 {
		t.Errorf("good: %s with %d steps, want passed with 50", good.Result.Value, len(good.Sections))
	}
	for id, want := range map[string]*regexp.Regexp{
		"bad":    regexp.MustCompile(`^refused 1 event from the task: event 2 of pid-\d+: data is not JSON`),
		"badlog": regexp.MustCompile(`^refused 1 event from the task: event 2 of pid-\d+: log file "../../../../../etc/passwd" is not a path inside the run directory`),
	} {
		task := taskByID(t, f, id)
		if task.Result.Value != result.Errored || !want.MatchString(task.Result.Reason) {
			t.Errorf("%s: %s %q, want errored matching %s", id, task.Result.Value, task.Result.Reason, want)
		}
		// The task's own steps are there; the child's refused end left
		// its step open, closed as any step that never ended.
		if len(task.Sections) != 2 || len(task.Sections[0].Sections) != 1 ||
			task.Sections[0].Sections[0].Result.Value != result.Errored || task.Sections[0].Sections[0].Result.Reason != "step never ended" {
			t.Errorf("%s: sections %s", id, mustJSON(task.Sections))
		}
	}
	jobLog, _ := os.ReadFile(filepath.Join(dir, "job.log"))
	if n := bytes.Count(jobLog, []byte("refused what the task sent")); n != 2 {
		t.Errorf("job.log has %d refusals, want 2:\n%s", n, jobLog)
	}
	for _, name := range []string{"results.json", "junit.xml", "report.html"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if bytes.Contains(b, []byte("root:x:0:0")) {
			t.Errorf("%s holds /etc/passwd", name)
		}
	}
	recoverAgrees(t, dir, "bad", "badlog", "good")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

var peakRSSRe = regexp.MustCompile(`peak_rss_kb=(\d+)`)

// peakRSSKB reads the host's peak RSS from job.log's last line.
func peakRSSKB(t *testing.T, runDir string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(runDir, "job.log"))
	if err != nil {
		t.Fatal(err)
	}
	m := peakRSSRe.FindSubmatch(b)
	if m == nil {
		t.Fatalf("job.log has no peak_rss_kb:\n%s", b)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A task whose child floods the hub for 120 s from 50 goroutines is
// stopped once it goes over a limit, and recorded Errored with it,
// whatever the flood's shape: small event batches, 1 MB messages that are
// not events, empty messages, or messages over 8 connections that never
// read the hub's answers. The run ends well before the flood would (only
// a flood that is not stopped takes its 120 s: no timing is asserted);
// the other task passes whole; the host's memory stays near its soft
// limit and hub/ within the run's limit; and the record recovers the
// same.
//
// The host's peak RSS is measured on a host built without the race
// detector (plainHost), as users run it: its bound is the host's soft
// limit (128 MiB), and 32 MiB for the binary itself and its threads'
// stacks, which the Go runtime's limit does not count.
func TestFloodIsStopped(t *testing.T) {
	t.Parallel()
	host := plainHost(t)
	for kind, conns := range map[string]int{"batches": 1, "garbage": 1, "empty": 1, "noread": 8} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			const runLimit = 256 << 20
			path := job(t, fmt.Sprintf(`
job "flood" {
  max_task_bytes  = 16 * 1024 * 1024
  max_task_events = 50000
  max_run_bytes   = %d
}
task "flood" {
  pack = "testpack"
  task = "flood"
  args = { kind = %q, duration = "120s", connections = %d }
}
task "good" {
  pack = "testpack"
  task = "many"
  args = { n = 50 }
}
`, runLimit, kind, conns))
			start := time.Now()
			r := taskhostExe(t, host, nil, "run", path)
			took := time.Since(start)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			dir := r.runDir(t)
			f := r.results(t)
			flood := taskByID(t, f, "flood")
			reason := flood.Result.Reason
			if flood.Result.Value != result.Errored || !strings.HasPrefix(reason, "sent more than ") && !strings.HasPrefix(reason, "left more than ") {
				t.Errorf("flood: %s %q, want errored, sent more than …", flood.Result.Value, reason)
			}
			if took > 90*time.Second {
				t.Errorf("the run took %s: the flood (120 s) was not stopped", took)
			}
			if good := taskByID(t, f, "good"); good.Result.Value != result.Passed || len(good.Sections) != 50 {
				t.Errorf("good: %s with %d steps", good.Result.Value, len(good.Sections))
			}
			// Told so, in its log; and job.log says the token was revoked.
			taskLog, _ := os.ReadFile(filepath.Join(dir, "tasks", "flood", "task.log"))
			if !bytes.Contains(taskLog, []byte(reason)) {
				t.Errorf("the flood's task.log does not say why it was stopped (%s):\n%s", reason, taskLog)
			}
			jobLog, _ := os.ReadFile(filepath.Join(dir, "job.log"))
			if !bytes.Contains(jobLog, []byte("revoking its credentials")) {
				t.Errorf("job.log does not say the flood's credentials were revoked")
			}
			rss, hub := peakRSSKB(t, dir), dirBytes(t, filepath.Join(dir, "hub"))
			t.Logf("run %s, %s, host peak RSS %d KiB, hub/ %d bytes", took.Round(time.Millisecond), reason, rss, hub)
			if rss > (128+32)<<10 {
				t.Errorf("the host's peak RSS was %d KiB, over the bound of 160 MiB", rss)
			}
			if hub > runLimit {
				t.Errorf("hub/ holds %d bytes, over max_run_bytes %d", hub, runLimit)
			}
			recoverAgrees(t, dir, "flood", "good")
		})
	}
}

// The credentials a task hands its children (TASKHOST_CHILD) are revoked
// when its attempt ends: a process that kept them can connect neither to
// the hub nor to the state server, while the run goes on; and the live
// and recovered records of the task agree.
func TestCredentialsEndWithTheTask(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	creds := filepath.Join(dir, "creds.json")
	runs := filepath.Join(dir, "runs")
	path := job(t, fmt.Sprintf(`
job "creds" {}
task "leak" {
  pack = "testpack"
  task = "leakcreds"
  args = { file = %q }
}
task "holder" {
  pack = "testpack"
  task = "meet"
  args = { dir = %q, name = "holder", peer = "release", wait = "60s" }
}
`, creds, dir))
	host := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path)
	host.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	host.Stdout, host.Stderr = &out, &out
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- host.Wait() }()
	release := func() { _ = os.WriteFile(filepath.Join(dir, "release"), nil, 0o644) }
	defer release()

	// Wait (bounded) until the leaking task has ended, its record closed.
	var c struct {
		URL         string `json:"url"`
		Token       string `json:"token"`
		Subject     string `json:"subject"`
		InboxPrefix string `json:"inbox_prefix"`
		StateSocket string `json:"state_socket"`
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the leak task did not end within 60 s\n%s", out.String())
		}
		logs, _ := filepath.Glob(filepath.Join(runs, "*", "job.log"))
		if len(logs) == 1 {
			if b, _ := os.ReadFile(logs[0]); bytes.Contains(b, []byte("task ended: task=leak")) {
				break
			}
		}
	}
	b, err := os.ReadFile(creds)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Token == "" {
		t.Fatalf("credentials not left: %v %s", err, b)
	}

	// The hub refuses the token.
	nc, err := nats.Connect(c.URL, nats.Token(c.Token), nats.CustomInboxPrefix(c.InboxPrefix), nats.MaxReconnects(0))
	if err == nil {
		t.Error("the ended task's token still connects to the hub")
		// What it can still do: an acknowledged step of the ended task.
		if js, err := jetstream.New(nc); err == nil {
			now := time.Now().UnixNano()
			batch, _ := (&packv1.EventBatch{Events: []*packv1.Event{
				{Src: "pid-1", Seq: 1, Kind: "start", Id: "late", Name: "after the end", TimeUnixNano: now},
				{Src: "pid-1", Seq: 2, Kind: "end", Id: "late", Result: "passed", TimeUnixNano: now},
			}}).MarshalVT()
			if _, err := js.Publish(t.Context(), c.Subject, batch); err == nil {
				t.Error("…and publishes acknowledged events into its record")
			}
		}
		nc.Close()
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("connect with the ended task's token: %v, want an authorization error", err)
	}
	// So does the state server.
	if sc, err := net.Dial("unix", c.StateSocket); err != nil {
		t.Errorf("state socket: %v", err)
	} else {
		_ = sc.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = sc.Write(statekv.AppendRequest(nil, &statekv.Request{Op: statekv.OpHello, Key: c.Token, Holder: "1/x"}))
		msg, err := statekv.ReadFrame(bufio.NewReader(sc), nil)
		if err != nil {
			t.Errorf("state hello: %v", err)
		} else if p, err := statekv.DecodeResponse(msg); err != nil || p.Status != statekv.StatusDenied {
			t.Errorf("state hello with the ended task's token: %c %s %v, want denied", p.Status, p.Msg, err)
		}
		sc.Close()
	}

	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("host: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		host.Process.Kill()
		t.Fatalf("the host did not end within 60 s of the release\n%s", out.String())
	}
	entries, err := os.ReadDir(runs)
	if err != nil || len(entries) != 1 {
		t.Fatalf("runs: %v %v", entries, err)
	}
	recoverAgrees(t, filepath.Join(runs, entries[0].Name()), "leak", "holder")
}
