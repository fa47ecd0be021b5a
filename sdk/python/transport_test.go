package python_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
)

// packScript is a pack written with the SDK's transport alone: a
// describe and a run by hand, served by _plugin.serve. Its tasks:
// "echo" answers with what it was asked; "big" answers with a reason of
// 300 kB (more than the host's flow-control window); "refuse" refuses the
// call with a gRPC status; "wait" waits to be cancelled, saying so in
// files of $PYT_DIR; "child" starts a child and waits.
const packScript = `#!/usr/bin/python3
import os, subprocess, sys
sys.path.insert(0, %q)
from taskhost import _plugin, _wire

if os.environ.get("PYT_VERSIONS"):
    _plugin.VERSIONS = tuple(int(v) for v in os.environ["PYT_VERSIONS"].split(","))
print("a print before serving: not on the handshake's stdout")
DIR = os.environ.get("PYT_DIR", "")

def mark(name, text=""):
    path = os.path.join(DIR, name)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.rename(path + ".tmp", path)

def describe():
    return _wire.DescribeResponse(name="pyt", version="0.1.0", protocol_versions=[1, 2], sdk_version="python",
        tasks=[_wire.TaskSpec(name="echo", doc="Echoes.", func_name="echo",
                              args=[_wire.ArgSpec(name="text", type_json=b'"string"', required=True)])])

def run(req, call):
    if req.task == "echo":
        return _wire.RunResponse(result="passed", reason="%%s %%s %%s v%%d" %% (req.task, req.task_id, req.args_json.decode(), call.version))
    if req.task == "big":
        return _wire.RunResponse(result="passed", reason="x" * 300000)
    if req.task == "refuse":
        raise _plugin.RPCError(5, "no task refuse: 100%% ü\nsecond line")
    if req.task == "wait":
        call.on_cancel(lambda: mark("callback"))
        mark("started", str(call.timeout))
        if call.cancelled.wait(60):
            mark("cancelled")
        return _wire.RunResponse(result="aborted")
    if req.task == "child":
        p = subprocess.Popen(["sleep", "300"])
        mark("child", str(p.pid))
        call.cancelled.wait(300)
        return _wire.RunResponse(result="aborted")
    raise _plugin.RPCError(5, "no task " + req.task)

_plugin.serve(describe, run)
`

// script writes the pack script to a directory of the test's own and
// returns its path, and the directory the script marks its progress in.
func script(t *testing.T) (path, dir string) {
	t.Helper()
	sdk, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	path = filepath.Join(dir, "pack.py")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(packScript, sdk)), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// start starts the script through the host's launch code.
func start(t *testing.T, env ...string) (*launch.Process, string) {
	t.Helper()
	path, dir := script(t)
	p, err := launch.Start(context.Background(), launch.Config{Path: path, Env: append(env, "PYT_DIR="+dir)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p, dir
}

// wait waits up to 20 s for file to exist and returns what it holds.
func wait(t *testing.T, file string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(file); err == nil {
			return string(b)
		}
	}
	t.Fatalf("%s not written", file)
	return ""
}

// gone waits up to 10 s for process pid to be gone from /proc.
func gone(pid int) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return true
		}
	}
	return false
}

// TestPythonDescribe: the host starts a Python pack, agrees on the highest
// version (2), and reads the description the pack gives; Stop ends the
// pack by go-plugin's Shutdown, on which it exits by itself.
func TestPythonDescribe(t *testing.T) {
	t.Parallel()
	p, _ := start(t)
	if v := p.ProtocolVersion(); v != protocol.Version {
		t.Errorf("negotiated version %d, want %d", v, protocol.Version)
	}
	d, err := p.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "pyt" || d.Version != "0.1.0" || d.SDKVersion != "python" || len(d.Tasks) != 1 {
		t.Fatalf("description %+v", d)
	}
	if tk := d.Tasks[0]; tk.Name != "echo" || tk.Doc != "Echoes." || len(tk.Args) != 1 || tk.Args[0].Name != "text" || !tk.Args[0].Required {
		t.Errorf("task %+v", tk)
	}
	p.Stop()
	if how, ok := p.WaitExit(time.Second); !ok || how != "exited with status 0" {
		t.Errorf("after Shutdown the pack %q (ended: %v), want it to exit with status 0", how, ok)
	}
}

// TestPythonRun: a Run reaches the script's run with the request and the
// negotiated version, and its answer reaches the host: a small one, one
// larger than the host's flow-control window, and a refusal with its
// status and message.
func TestPythonRun(t *testing.T) {
	t.Parallel()
	p, _ := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := `{"text":"` + strings.Repeat("a", 100000) + `"}`
	resp, err := p.Run(ctx, &packv1.RunRequest{Task: "echo", TaskId: "t1", ArgsJson: []byte(args)})
	if err != nil {
		t.Fatal(err)
	}
	if want := "echo t1 " + args + " v2"; resp.GetResult() != "passed" || resp.GetReason() != want {
		t.Errorf("run: %q %.80q, want passed %.80q", resp.GetResult(), resp.GetReason(), want)
	}
	resp, err = p.Run(ctx, &packv1.RunRequest{Task: "big"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetReason()) != 300000 {
		t.Errorf("a reason of %d bytes, want 300000", len(resp.GetReason()))
	}
	_, err = p.Run(ctx, &packv1.RunRequest{Task: "refuse"})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "no task refuse: 100% ü\nsecond line" {
		t.Errorf("refused run: %v, want NotFound with the script's message", err)
	}
}

// TestPythonCancel: cancelling the host's context of a Run, or its
// deadline passing, cancels the call in the script (call.cancelled and
// its callback), which returns; the pack then ends on Stop.
func TestPythonCancel(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"cancel", "deadline"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, dir := start(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if name == "deadline" {
				ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
			}
			errc := make(chan error, 1)
			go func() {
				_, err := p.Run(ctx, &packv1.RunRequest{Task: "wait"})
				errc <- err
			}()
			timeout := wait(t, filepath.Join(dir, "started"))
			want := codes.DeadlineExceeded
			if name == "cancel" {
				if timeout != "None" {
					t.Errorf("call.timeout %s, want None", timeout)
				}
				cancel()
				want = codes.Canceled
			} else if s, err := strconv.ParseFloat(timeout, 64); err != nil || s <= 0 || s > 3 {
				t.Errorf("call.timeout %s, want the deadline's seconds", timeout)
			}
			if err := <-errc; status.Code(err) != want {
				t.Errorf("run: %v, want %v", err, want)
			}
			wait(t, filepath.Join(dir, "cancelled"))
			wait(t, filepath.Join(dir, "callback"))
			p.Stop()
			if how, ok := p.WaitExit(time.Second); !ok || how != "exited with status 0" {
				t.Errorf("the pack %q (ended: %v), want it to exit with status 0", how, ok)
			}
			if !gone(p.PID()) {
				t.Errorf("pack process %d still there", p.PID())
			}
		})
	}
}

// TestPythonKill: the host's Kill, during a Run, ends the pack and the
// child its task started; SIGTERM (which the kernel sends the pack when
// the host dies) makes the pack kill its process group and exit.
func TestPythonKill(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Kill", "SIGTERM"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, dir := start(t)
			go p.Run(context.Background(), &packv1.RunRequest{Task: "child"}) //nolint:errcheck // the pack is killed under it
			child, err := strconv.Atoi(wait(t, filepath.Join(dir, "child")))
			if err != nil {
				t.Fatal(err)
			}
			if name == "Kill" {
				p.Kill()
			} else {
				if err := syscall.Kill(p.PID(), syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				how, ok := p.WaitExit(10 * time.Second)
				if !ok || how != "killed by SIGKILL" {
					t.Errorf("after SIGTERM the pack %q (ended: %v), want it killed with its group", how, ok)
				}
			}
			for _, pid := range []int{p.PID(), child} {
				if !gone(pid) {
					t.Errorf("process %d still there", pid)
				}
			}
		})
	}
}

// TestPythonNoSharedVersion: a Python pack that speaks no version the
// host speaks is refused with both sides' versions, as a Go one is.
func TestPythonNoSharedVersion(t *testing.T) {
	t.Parallel()
	path, dir := script(t)
	_, err := launch.Start(context.Background(), launch.Config{Path: path, Env: []string{"PYT_VERSIONS=99", "PYT_DIR=" + dir}})
	if !errors.Is(err, launch.ErrNotAPack) {
		t.Fatalf("start: %v, want ErrNotAPack", err)
	}
	if want := "Plugin version: 99, Client versions: [1 2] (the pack speaks pack protocol 99, this taskhost speaks [1 2]: rebuild the pack"; !strings.Contains(err.Error(), want) {
		t.Fatalf("start: %v\nwant %q", err, want)
	}
}

var handshake = regexp.MustCompile(`^1\|([0-9]+)\|unix\|(/[^|]+)\|grpc\|\n$`)

// TestPythonHandshake: started by hand with the cookie, the script prints
// go-plugin's handshake line and nothing else on stdout (its print goes
// to stderr), with the version agreed, and serves on the socket it
// names (not version 1 to a host that dials over TLS), in a directory of
// its own (0700) that it removes when it stops:
// the pack service, UNIMPLEMENTED for a method it does not serve, and
// go-plugin's Shutdown, on which it exits. Without the cookie it says it
// is a plugin, and exits with status 1.
func TestPythonHandshake(t *testing.T) {
	t.Parallel()
	path, dir := script(t)
	for _, tc := range []struct{ offered, tls, want string }{
		{offered: "1,2", want: "2"},
		{offered: "1", want: "1"},
		{offered: "2,3", want: "2"},
		// A host that hands its packs TLS key pairs speaks version 1 over
		// TLS only: it is not offered version 1 (protocol.ServedPluginSets).
		{offered: "1", tls: `{"server_name":"localhost"}`, want: "2"},
	} {
		cmd := exec.Command(path)
		cmd.Env = append(os.Environ(), "TASKHOST_PACK_PLUGIN=3f0c9a1e6b7d4c2a", "PLUGIN_PROTOCOL_VERSIONS="+tc.offered, "PYT_DIR="+dir, "PLUGIN_UNIX_SOCKET_DIR=", protocol.TLSHostEnv+"="+tc.tls)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		m := handshake.FindStringSubmatch(line)
		if err != nil || m == nil || m[1] != tc.want {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("offered %s: handshake line %q (%v), want version %s; stderr:\n%s", tc.offered, line, err, tc.want, stderr.String())
		}
		sockDir := filepath.Dir(m[2])
		if st, err := os.Stat(sockDir); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("the socket's directory %s: %v %v, want mode 0700", sockDir, st.Mode(), err)
		}

		conn, err := grpc.NewClient("unix://"+m[2], grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d, err := packv1.NewPackClient(conn).Describe(ctx, &packv1.DescribeRequest{})
		if err != nil || d.GetName() != "pyt" {
			t.Errorf("describe: %v %v", d, err)
		}
		err = conn.Invoke(ctx, "/taskhost.pack.v1.Pack/Nothing", &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("an unknown method: %v, want Unimplemented", err)
		}
		if err := conn.Invoke(ctx, "/plugin.GRPCController/Shutdown", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		conn.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("after Shutdown: %v, want exit status 0", err)
		}
		if _, err := os.Stat(sockDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket's directory %s is left: %v", sockDir, err)
		}
		if !strings.Contains(stderr.String(), "a print before serving") {
			t.Errorf("the script's print is not on stderr:\n%s", stderr.String())
		}
	}

	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), "TASKHOST_PACK_PLUGIN=", "PYT_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "This binary is a plugin. These are not meant to be executed directly.") {
		t.Errorf("without the cookie: %v\n%s", err, out)
	}
}
