package remote_test

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/agent"
	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/remote"
	"github.com/taskhost/taskhost/internal/report"
	"github.com/taskhost/taskhost/sdk/result"
)

// readFiles reads every regular file of dir, by name.
func readFiles(t *testing.T, dir string) map[string][]byte {
	files := map[string][]byte{}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Errorf("read %s: %v", dir, err)
		return files
	}
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Errorf("%v", err)
		}
		files[de.Name()] = b
	}
	return files
}

// shipped returns an agent's Faults that send a copy of each call's log
// directory, as the agent shipped it, on the channel returned.
func shipped(t *testing.T) (agent.Faults, chan map[string][]byte) {
	copies := make(chan map[string][]byte, 8)
	return agent.Faults{Shipped: func(_, dir string) { copies <- readFiles(t, dir) }}, copies
}

func takeCopy(t *testing.T, copies chan map[string][]byte) map[string][]byte {
	t.Helper()
	select {
	case c := <-copies:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not say it shipped the call's logs")
		return nil
	}
}

// sameFiles fails unless the host's files are the agent's, byte for
// byte.
func sameFiles(t *testing.T, what string, host, agent map[string][]byte) {
	t.Helper()
	if h, a := slices.Sorted(maps.Keys(host)), slices.Sorted(maps.Keys(agent)); !slices.Equal(h, a) {
		t.Fatalf("%s: the host has files %q, the agent wrote %q", what, h, a)
	}
	for name, b := range agent {
		if !bytes.Equal(host[name], b) {
			t.Errorf("%s: the host's %s has %d bytes, not the %d the agent's has", what, name, len(host[name]), len(b))
		}
	}
}

// waitEmpty waits (up to 10 s) until dir is empty or gone.
func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); ; {
		des, err := os.ReadDir(dir)
		if len(des) == 0 && (err == nil || os.IsNotExist(err)) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("%s still holds %d entries", dir, len(des))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A task on an agent writes its log files in a directory of the agent's,
// from which they are shipped into the run directory: once the attempt
// is over, the host's task.log, many chunks long, and its child
// processes' pid-<pid>.log are byte for byte what the pack wrote. The
// agent removes each call's directory when the call ends, and the run's
// when it stops serving it.
func TestLogsShipped(t *testing.T) {
	t.Parallel()
	r := newRigLogs(t, remote.Config{}, true)
	workDir := t.TempDir()
	faults, copies := shipped(t)
	stop := r.agent("a1", agent.Config{WorkDir: workDir, Faults: faults})

	const lines = 3000 // about 300 KB: several chunks
	out, _ := r.run("logs", fmt.Sprintf(`{"n":%d}`, lines), attempt.Options{Slot: 1})
	if out.Result != result.Passed {
		t.Fatalf("logs: %s (%s)", out.Result, out.Reason)
	}
	host := readFiles(t, filepath.Join(r.runner.RunDir, "tasks/t1"))
	sameFiles(t, "logs", host, takeCopy(t, copies))
	if n := bytes.Count(host["task.log"], []byte("the quick brown fox")); n != lines {
		t.Fatalf("the host's task.log has %d of the %d lines logged", n, lines)
	}

	out, _ = r.run("children", `{}`, attempt.Options{Slot: 2})
	if out.Result != result.Passed {
		t.Fatalf("children: %s (%s)", out.Result, out.Reason)
	}
	host = readFiles(t, filepath.Join(r.runner.RunDir, "tasks/t2"))
	sameFiles(t, "children", host, takeCopy(t, copies))
	// Two SDK children, and a plain one whose output the SDK keeps.
	var pidLogs []string
	hellos := 0
	for name, b := range host {
		if strings.HasPrefix(name, "pid-") {
			pidLogs = append(pidLogs, "tasks/t2/"+name)
			if bytes.Contains(b, []byte("says hello")) {
				hellos++
			}
		}
	}
	if len(pidLogs) != 3 || hellos != 2 {
		t.Fatalf("the host has pid logs %q, %d of them with a child's hello; want three, two with", pidLogs, hellos)
	}
	slices.Sort(pidLogs)
	if logs := slices.Sorted(slices.Values(out.Logs)); !slices.Equal(logs, pidLogs) {
		t.Errorf("the attempt names log files %q, want those on the host %q", logs, pidLogs)
	}

	runDir := filepath.Join(workDir, r.hub.RunKey())
	waitEmpty(t, runDir)
	r.runner.Wait()
	stop()
	if _, err := os.Stat(runDir); !os.IsNotExist(err) {
		t.Fatalf("the run's directory on the agent is still there (%v)", err)
	}
}

// A task's second attempt, on another agent, appends to the log files
// the first one left on the host, as it would on the host: task.log
// holds the first attempt's lines and then the second's, none
// overwritten, and the second attempt's steps name its own lines.
func TestRetryLogsFollowTheEarlierAttempt(t *testing.T) {
	t.Parallel()
	r := newRigLogs(t, remote.Config{}, true)
	faults1, copies1 := shipped(t)
	stop1 := r.agent("a1", agent.Config{Faults: faults1})
	out, pack := r.runAs("t1", "logs", `{"n":300}`, attempt.Options{Slot: 1})
	if out.Result != result.Passed || pack.Agent() != "a1" {
		t.Fatalf("attempt 1: %s (%s) on %s", out.Result, out.Reason, pack.Agent())
	}
	first := takeCopy(t, copies1)["task.log"]
	r.runner.Wait()
	stop1()

	faults2, copies2 := shipped(t)
	r.agent("a2", agent.Config{Faults: faults2})
	out, pack = r.runAs("t1", "childsteps", `{"n":7}`, attempt.Options{Slot: 2})
	if out.Result != result.Passed || pack.Agent() != "a2" {
		t.Fatalf("attempt 2: %s (%s) on %s", out.Result, out.Reason, pack.Agent())
	}
	second := takeCopy(t, copies2)["task.log"]

	host, err := os.ReadFile(filepath.Join(r.runner.RunDir, "tasks/t1/task.log"))
	if err != nil {
		t.Fatal(err)
	}
	n1 := len(first)
	if n1 == 0 || len(host) <= n1 || !bytes.Equal(host[:n1], first) {
		t.Fatalf("the host's task.log (%d bytes) does not start with attempt 1's %d", len(host), n1)
	}
	if len(second) != len(host) || !bytes.Equal(host[n1:], second[n1:]) {
		t.Fatalf("the host's task.log past attempt 1's lines (%d bytes) is not attempt 2's (%d bytes)", len(host)-n1, len(second)-n1)
	}
	if bytes.Count(second[:n1], []byte{0}) != n1 {
		t.Errorf("attempt 2's task.log on its agent does not start with %d bytes it did not write", n1)
	}
	var inner *report.Node
	for _, s := range out.Sections {
		for _, c := range s.Sections {
			if c.Name == "inner" {
				inner = c
			}
		}
	}
	if inner == nil || inner.Logs == nil {
		t.Fatalf("attempt 2's step inner, and its log reference, not in the tree: %+v", out.Sections)
	}
	ref := inner.Logs
	if ref.File != "tasks/t1/task.log" || ref.Begin < int64(n1) || ref.Begin+ref.Size > int64(len(host)) {
		t.Fatalf("step inner's log reference %+v: want in tasks/t1/task.log past attempt 1's %d bytes, within its %d", ref, n1, len(host))
	}
	if got := host[ref.Begin : ref.Begin+ref.Size]; !bytes.Contains(got, []byte("inner of child 7")) {
		t.Fatalf("step inner's lines on the host are %q, want its own", got)
	}
}

// An attempt stopped by its timeout (Run returns at once, and the call
// returns on the agent within its grace) has its logs on the host too,
// by the time its pack is killed: the agent ships them before it says
// the pack is gone, though the host asks it to kill the pack before it
// shipped them (held here).
func TestStoppedAttemptLogsShipped(t *testing.T) {
	t.Parallel()
	r := newRigLogs(t, remote.Config{}, true)
	faults, copies := shipped(t)
	faults.Returned = func(string) { time.Sleep(2 * time.Second) }
	r.agent("a1", agent.Config{Faults: faults})
	// The pack's binary fetched first, so that the timeout comes in the
	// call.
	if out, _ := r.run("pass", `{}`, attempt.Options{Slot: 2}); out.Result != result.Passed {
		t.Fatalf("pass: %s (%s)", out.Result, out.Reason)
	}
	takeCopy(t, copies)
	out, _ := r.run("hold", `{"duration":"5m"}`, attempt.Options{Timeout: 3 * time.Second, Grace: time.Minute})
	if out.Result != result.Aborted {
		t.Fatalf("hold: %s (%s), want aborted", out.Result, out.Reason)
	}
	host := readFiles(t, filepath.Join(r.runner.RunDir, "tasks/t1"))
	agentCopy := takeCopy(t, copies)
	sameFiles(t, "hold", host, agentCopy)
	if len(host["task.log"]) == 0 {
		t.Fatal("the stopped task logged nothing: nothing to ship")
	}
}
