// Command testpack is a task pack for taskhost's own tests: tasks that
// hold, report a given tree, exit, kill themselves, hang or panic.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/taskhost/taskhost/internal/protocol/wire"
	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/result"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "escape-daemon":
			escapeDaemon(os.Args[2:])
		case "escape-sleep":
			time.Sleep(300 * time.Second)
			os.Exit(0)
		}
	}
	if wire.Started(os.Getenv) {
		serveDelay(os.Getenv("TESTPACK_SERVE_DELAY"))
	}
	switch filepath.Base(os.Args[0]) {
	case "chatty":
		// A pack that breaks the plugin handshake: it writes to fd 1
		// itself before serving (the SDK keeps fmt.Print and friends off
		// stdout until then, but not a raw write).
		syscall.Write(1, []byte("hello from main\n"))
	case "printy":
		fmt.Println("a stray line before serving") // the SDK sends it to the log
	}
	if len(os.Args) > 2 && os.Args[1] == "raw" {
		os.Exit(raw(os.Args[2:])) // a child of a task, speaking to the hub by hand
	}
	s := sdk.NewSet("testpack", "1.0.0")
	sdk.Register(s, "pass", "Passes.", func(t *sdk.T, _ sdk.NoArgs) { t.Step("ok", func(t *sdk.T) {}) })
	sdk.Register(s, "stdin", "Reads its standard input to the end and records what it read.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("read", func(t *sdk.T) {
			b, err := io.ReadAll(os.Stdin)
			if err != nil {
				t.Errorf("read stdin: %v", err)
			}
			t.SetData(map[string]any{"bytes": len(b)})
		})
	})
	sdk.Register(s, "fail", "Fails.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("check", func(t *sdk.T) { t.Failf("failed on purpose") })
	})
	sdk.Register(s, "hold", "Holds for a while and records when it started and stopped, and its pid.", Hold)
	sdk.Register(s, "meet", "Leaves a file named after itself in dir and waits until its peer's file is there too.", Meet)
	sdk.Register(s, "children", "Starts two SDK children (this binary's run mode) and one plain child.", Children)
	sdk.Register(s, "childsteps", "What a child started by children reports.", ChildSteps)
	sdk.Register(s, "many", "Reports n steps, named s1 to sN.", func(t *sdk.T, a ManyArgs) {
		for i := 1; i <= a.N; i++ {
			t.Step("s"+strconv.Itoa(i), func(t *sdk.T) {})
		}
	})
	sdk.Register(s, "logs", "Logs n lines of about 100 bytes.", func(t *sdk.T, a ManyArgs) {
		const filler = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs"
		for i := 0; i < a.N; i++ {
			t.Logf("%07d %s", i, filler)
		}
	})
	sdk.Register(s, "taskdata", "Sets data on the task itself.", func(t *sdk.T, _ sdk.NoArgs) {
		t.SetData(map[string]int{"devices": 3})
	})
	sdk.Register(s, "count", "Adds 1 to a counter n times.", func(t *sdk.T, a CountArgs) {
		t.Step("count", func(t *sdk.T) {
			for i := 0; i < a.N; i++ {
				if _, err := t.State().Add(a.Key, 1); err != nil {
					t.Errorf("add %d: %v", i, err)
				}
			}
		})
	})
	sdk.Register(s, "lockloop", "Takes a lock n times, holding it a moment, and records when it held it.", LockLoop)
	sdk.Register(s, "lockhold", "Takes a lock, says so in the state, writes its pid to a file, and hangs.", LockHold)
	sdk.Register(s, "lockwait", "Waits until another task holds a lock, then takes it and records when.", LockWait)
	sdk.Register(s, "barrier", "Waits a while, then waits at a barrier; records when it arrived and left.", BarrierTask)
	sdk.Register(s, "watcher", "Watches keys w.*, says it is ready, and checks it sees n updates of w.x in order.", Watcher)
	sdk.Register(s, "writer", "Waits until the watcher is ready, then puts w.x = 1..n.", Writer)
	sdk.Register(s, "isolated", "Puts its pid under owner, meets a peer through files, and checks owner is still its own.", Isolated)
	sdk.Register(s, "stateapi", "Checks the shared state's answers and errors, one step each.", StateAPI)
	sdk.Register(s, "statebench", "Runs n operations of one kind on the shared state and records each one's latency.", StateBench)
	sdk.Register(s, "flaky", "Fails its first fail_times runs (counted in the shared state), then passes.", func(t *sdk.T, a FlakyArgs) {
		t.Step("try", func(t *sdk.T) {
			n, err := t.State().Add("flaky."+a.Key, 1)
			if err != nil {
				t.Errorf("%v", err)
			}
			if n <= int64(a.FailTimes) {
				t.Failf("run %d fails on purpose", n)
			}
		})
	})
	sdk.Register(s, "tree", "Reports the tree it is given.", Tree)
	sdk.Register(s, "exit", "Exits the process with a status, in a step.", func(t *sdk.T, a ExitArgs) {
		t.Step("exit", func(t *sdk.T) { os.Exit(a.Status) })
	})
	sdk.Register(s, "kill", "Kills its own process with a signal, in a step.", func(t *sdk.T, a KillArgs) {
		t.Step("kill", func(t *sdk.T) {
			sig := syscall.SIGKILL
			if a.Signal != 0 {
				sig = syscall.Signal(a.Signal)
			}
			_ = syscall.Kill(os.Getpid(), sig)
			time.Sleep(time.Minute)
		})
	})
	sdk.Register(s, "panic", "Panics at the top level of the task.", func(t *sdk.T, _ sdk.NoArgs) {
		panic("top-level panic on purpose")
	})
	sdk.Register(s, "hang", "Ignores its context and sleeps; optionally starts a child that ignores SIGTERM and writes its pid to a file.", Hang)
	sdk.Register(s, "absent", "Passes once no process has mark in its command line (waiting up to 10 s).", Absent)
	sdk.Register(s, "escape", "Leaves a process behind that escapes the process group (setsid, a double fork, or one holding the pack's stdout), then returns.", Escape)
	registerOutputTasks(s)
	registerSecretTasks(s)
	registerDiskTasks(s)
	registerRawTasks(s)
	registerStateTasks(s)
	s.Run()
}

// serveDelay holds the pack before it serves, as TESTPACK_SERVE_DELAY
// says: a duration, or "never" to never serve.
func serveDelay(d string) {
	switch d {
	case "":
		return
	case "never":
		select {}
	}
	if dur, err := time.ParseDuration(d); err == nil {
		time.Sleep(dur)
	}
}

// EscapeArgs are escape's arguments.
type EscapeArgs struct {
	How  string        `arg:"how,required" doc:"setsid, daemon or stdout"`
	Mark string        `arg:"mark,required" doc:"a number of seconds, like 300.123456, that makes the left process's command line unique"`
	Hold time.Duration `arg:"hold" doc:"after leaving the process, hold this long (or until stopped) before returning"`
}

// Escape leaves a process behind in a session of its own, in one of the
// ways a task can: a child started through setsid(1) that backgrounds a
// sleep; a Go child that calls setsid(2) and starts a grandchild without
// waiting for it (a double fork); or, as setsid but started with the
// pack's own standard output, which the grandchild then holds open.
func Escape(t *sdk.T, a EscapeArgs) {
	t.Step("escape "+a.How, func(t *sdk.T) {
		switch a.How {
		case "setsid":
			if err := t.Command("setsid", "sh", "-c", "sleep "+a.Mark+" &").Run(); err != nil {
				t.Errorf("setsid: %v", err)
			}
		case "stdout":
			c := exec.Command("setsid", "sh", "-c", "sleep "+a.Mark+" </dev/null &")
			c.Stdout = os.NewFile(1, "fd1")
			if err := c.Run(); err != nil {
				t.Errorf("setsid: %v", err)
			}
		case "daemon":
			exe, err := os.Executable()
			if err != nil {
				t.Errorf("%v", err)
			}
			if err := t.Command(exe, "escape-daemon", a.Mark).Run(); err != nil {
				t.Errorf("daemon: %v", err)
			}
		default:
			t.Errorf("unknown way %q", a.How)
		}
	})
	if a.Hold > 0 {
		t.Step("hold", func(t *sdk.T) {
			select {
			case <-time.After(a.Hold):
			case <-t.Context().Done():
			}
		})
	}
}

// AbsentArgs are absent's arguments.
type AbsentArgs struct {
	Mark string `arg:"mark,required"`
}

// Absent checks that what an earlier task left is gone: no process has
// the mark in its command line, within 10 s.
func Absent(t *sdk.T, a AbsentArgs) {
	t.Step("no process of "+a.Mark, func(t *sdk.T) {
		var left []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			left = left[:0]
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
				if err == nil && strings.Contains(string(b), a.Mark) && e.Name() != strconv.Itoa(os.Getpid()) {
					if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
						left = append(left, e.Name())
					}
				}
			}
			if len(left) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Failf("processes %v still run 10 s after the task that left them ended", left)
			}
		}
	})
}

// escapeDaemon is the first half of a double fork: it leaves its task's
// process group for a session of its own, starts the grandchild and
// exits without waiting for it, so that the grandchild is orphaned.
func escapeDaemon(args []string) {
	if _, err := syscall.Setsid(); err != nil {
		fmt.Fprintln(os.Stderr, "setsid:", err)
		os.Exit(1)
	}
	exe, err := os.Executable()
	if err != nil {
		os.Exit(1)
	}
	c := exec.Command(exe, append([]string{"escape-sleep"}, args...)...)
	if err := c.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// HoldArgs are hold's arguments.
type HoldArgs struct {
	For time.Duration `arg:"duration"`
}

// Hold sleeps and records its times.
func Hold(t *sdk.T, a HoldArgs) {
	t.Step("hold", func(t *sdk.T) {
		start := time.Now()
		select {
		case <-time.After(a.For):
		case <-t.Context().Done():
			t.Abort("stopped")
		}
		t.SetData(map[string]any{"start": start.UnixNano(), "stop": time.Now().UnixNano(), "pid": os.Getpid()})
	})
}

// MeetArgs are meet's arguments.
type MeetArgs struct {
	Dir  string        `arg:"dir,required"`
	Name string        `arg:"name,required"`
	Peer string        `arg:"peer,required"`
	Wait time.Duration `arg:"wait" doc:"how long to wait for the peer (default 30s)"`
}

// Meet passes only if its peer runs at the same time.
func Meet(t *sdk.T, a MeetArgs) {
	if a.Wait == 0 {
		a.Wait = 30 * time.Second
	}
	t.Step("meet "+a.Peer, func(t *sdk.T) {
		if err := os.WriteFile(filepath.Join(a.Dir, a.Name), nil, 0o644); err != nil {
			t.Errorf("%v", err)
		}
		deadline := time.Now().Add(a.Wait)
		for {
			if _, err := os.Stat(filepath.Join(a.Dir, a.Peer)); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Failf("%s did not show up within %s", a.Peer, a.Wait)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// Children starts two children that use the SDK and one that does not.
func Children(t *sdk.T, _ sdk.NoArgs) {
	exe, err := os.Executable()
	if err != nil {
		t.Errorf("%v", err)
	}
	t.Step("spawn", func(t *sdk.T) {
		for i := range 2 {
			c := t.Command(exe, "run", "childsteps", "--arg", fmt.Sprintf("n=%d", i))
			if err := c.Run(); err != nil {
				t.Failf("child %d: %v", i, err)
			}
		}
		c := t.Command("sh", "-c", "echo plain out; echo plain err >&2")
		if err := c.Run(); err != nil {
			t.Failf("plain child: %v", err)
		}
	})
	t.Step("after", func(t *sdk.T) {})
}

// CountArgs are count's arguments.
type CountArgs struct {
	Key string `arg:"key,required"`
	N   int    `arg:"n,required"`
}

// LockArgs are the lock tasks' arguments.
type LockArgs struct {
	Name  string        `arg:"name,required"`
	N     int           `arg:"n"`
	Lease time.Duration `arg:"lease"`
	File  string        `arg:"pid_file"`
}

// LockLoop takes the lock n times.
func LockLoop(t *sdk.T, a LockArgs) {
	var spans [][2]int64
	t.Step("lock loop", func(t *sdk.T) {
		for i := 0; i < a.N; i++ {
			l, err := t.State().Lock(a.Name, a.Lease)
			if err != nil {
				t.Errorf("lock %d: %v", i, err)
			}
			start := time.Now().UnixNano()
			time.Sleep(2 * time.Millisecond)
			stop := time.Now().UnixNano()
			if err := l.Unlock(); err != nil {
				t.Errorf("unlock %d: %v", i, err)
			}
			spans = append(spans, [2]int64{start, stop})
		}
		t.SetData(spans)
	})
}

// LockHold takes the lock and hangs.
func LockHold(t *sdk.T, a LockArgs) {
	t.Step("hold", func(t *sdk.T) {
		if _, err := t.State().Lock(a.Name, a.Lease); err != nil {
			t.Errorf("lock: %v", err)
		}
		if _, err := t.State().Put("held."+a.Name, os.Getpid()); err != nil {
			t.Errorf("%v", err)
		}
		if err := os.WriteFile(a.File, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			t.Errorf("%v", err)
		}
		select {}
	})
}

// LockWait takes the lock once another task holds it.
func LockWait(t *sdk.T, a LockArgs) {
	t.Step("wait for the holder", func(t *sdk.T) {
		for {
			if _, err := t.State().Get("held."+a.Name, nil); err == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Step("take", func(t *sdk.T) {
		l, err := t.State().Lock(a.Name, a.Lease)
		if err != nil {
			t.Errorf("lock: %v", err)
		}
		t.SetData(map[string]int64{"acquired": time.Now().UnixNano()})
		if err := l.Unlock(); err != nil {
			t.Errorf("unlock: %v", err)
		}
	})
}

// BarrierArgs are barrier's arguments.
type BarrierArgs struct {
	Name  string        `arg:"name,required"`
	N     int           `arg:"n,required"`
	Delay time.Duration `arg:"delay"`
}

// BarrierTask waits at a barrier.
func BarrierTask(t *sdk.T, a BarrierArgs) {
	t.Step("barrier", func(t *sdk.T) {
		time.Sleep(a.Delay)
		arrive := time.Now().UnixNano()
		if err := t.State().Barrier(a.Name, a.N); err != nil {
			t.Errorf("%v", err)
		}
		t.SetData(map[string]int64{"arrive": arrive, "leave": time.Now().UnixNano()})
	})
}

// WatchArgs are the watcher's and writer's arguments.
type WatchArgs struct {
	N int `arg:"n,required"`
}

// Watcher checks it sees every update in order.
func Watcher(t *sdk.T, a WatchArgs) {
	t.Step("watch", func(t *sdk.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		changes, err := t.State().Watch(ctx, "w.")
		if err != nil {
			t.Errorf("watch: %v", err)
		}
		if _, err := t.State().Put("w.ready", true); err != nil {
			t.Errorf("%v", err)
		}
		want := 1
		for c := range changes {
			if c.Key != "w.x" {
				continue
			}
			var v int
			if err := c.Decode(&v); err != nil {
				t.Errorf("%v", err)
			}
			if v != want {
				t.Failf("update %d: got value %d (out of order, lost or doubled)", want, v)
			}
			if want == a.N {
				t.SetData(map[string]int{"seen": want})
				return
			}
			want++
		}
		t.Failf("the watch ended after %d updates", want-1)
	})
}

// Writer puts w.x = 1..n once the watcher is ready.
func Writer(t *sdk.T, a WatchArgs) {
	t.Step("write", func(t *sdk.T) {
		for {
			if _, err := t.State().Get("w.ready", nil); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for i := 1; i <= a.N; i++ {
			if _, err := t.State().Put("w.x", i); err != nil {
				t.Errorf("put %d: %v", i, err)
			}
		}
	})
}

// Isolated checks that another run does not see or change its state.
func Isolated(t *sdk.T, a MeetArgs) {
	t.Step("isolated", func(t *sdk.T) {
		st := t.State()
		if _, err := st.Put("owner", os.Getpid()); err != nil {
			t.Errorf("%v", err)
		}
		Meet(t, a)
		var owner int
		if _, err := st.Get("owner", &owner); err != nil {
			t.Errorf("%v", err)
		}
		if owner != os.Getpid() {
			t.Failf("owner is %d, not this task's pid %d: another run wrote it", owner, os.Getpid())
		}
		keys, err := st.Keys("")
		if err != nil {
			t.Errorf("%v", err)
		}
		t.SetData(map[string]any{"keys": keys, "pid": os.Getpid()})
	})
}

// StateAPI checks each State method's answer, and its error for misuse.
func StateAPI(t *sdk.T, _ sdk.NoArgs) {
	st := t.State()
	expect := func(name string, err, want error) {
		t.Step(name, func(t *sdk.T) {
			t.SetData(fmt.Sprint(err))
			if !errors.Is(err, want) {
				t.Failf("got %v, want %v", err, want)
			}
		}, sdk.Continue)
	}
	_, err := st.Put("big", strings.Repeat("x", sdk.MaxValueBytes))
	expect("value too large", err, sdk.ErrTooLarge)
	_, err = st.Put("bad key!", 1)
	expect("forbidden characters", err, sdk.ErrBadKey)
	_, err = st.Put("_lock.x", 1)
	expect("reserved key", err, sdk.ErrBadKey)
	_, err = st.Get("absent", nil)
	expect("get absent", err, sdk.ErrNotFound)

	rev, err := st.Create("c", 1)
	expect("create", err, nil)
	_, err = st.Create("c", 2)
	expect("create existing", err, sdk.ErrExists)
	_, err = st.CompareAndSwap("c", 3, rev+100)
	expect("compare-and-swap stale", err, sdk.ErrConflict)
	_, err = st.CompareAndSwap("c", 3, rev)
	expect("compare-and-swap", err, nil)
	t.Step("get after swap", func(t *sdk.T) {
		v, _, err := sdk.StateValue[int](st, "c")
		if err != nil || v != 3 {
			t.Failf("c = %d (%v), want 3", v, err)
		}
	}, sdk.Continue)
	_, err = st.Add("c", 2)
	expect("add to a number", err, nil)
	// A counter changed by a Put or a Delete since this process's last
	// Add: the next Add builds on what is there now.
	t.Step("add after put and delete", func(t *sdk.T) {
		var got []int64
		for _, op := range []func() (int64, error){
			func() (int64, error) { return st.Add("n", 1) },
			func() (int64, error) { return st.Add("n", 1) },
			func() (int64, error) { _, err := st.Put("n", 100); return 0, err },
			func() (int64, error) { return st.Add("n", 1) },
			func() (int64, error) { return 0, st.Delete("n") },
			func() (int64, error) { return st.Add("n", 5) },
			func() (int64, error) { return st.Add("n", -2) },
		} {
			n, err := op()
			if err != nil {
				t.Failf("%v", err)
			}
			got = append(got, n)
		}
		if want := []int64{1, 2, 0, 101, 0, 5, 3}; !slices.Equal(got, want) {
			t.Failf("values %v, want %v", got, want)
		}
		expect("delete n", st.Delete("n"), nil)
	}, sdk.Continue)
	_, err = st.Put("text", "hello")
	expect("put", err, nil)
	_, err = st.Add("text", 1)
	expect("add to text", err, sdk.ErrNotCounter)
	t.Step("keys", func(t *sdk.T) {
		keys, err := st.Keys("")
		if err != nil || strings.Join(keys, ",") != "c,text" {
			t.Failf("keys %v (%v), want [c text]", keys, err)
		}
	}, sdk.Continue)
	expect("delete", st.Delete("c"), nil)
	_, err = st.Get("c", nil)
	expect("get deleted", err, sdk.ErrNotFound)

	l, err := st.Lock("m", 0)
	expect("lock", err, nil)
	if l != nil {
		expect("unlock", l.Unlock(), nil)
		expect("unlock again (not the holder)", l.Unlock(), sdk.ErrNotHolder)
	}
	expect("barrier of 0", st.Barrier("z", 0), sdk.ErrBarrier)
}

// StateBenchArgs are statebench's arguments.
type StateBenchArgs struct {
	Op  string `arg:"op,required" doc:"get, put, add or cas"`
	N   int    `arg:"n,required"`
	Key string `arg:"key,required"`
	// Procs is how many statebench tasks start their loops together, at a
	// barrier.
	Procs int `arg:"procs" doc:"how many statebench tasks start together"`
}

// StateBench measures the shared state from one process.
func StateBench(t *sdk.T, a StateBenchArgs) {
	st := t.State()
	if _, err := st.Put(a.Key+".seed", 1); err != nil {
		t.Errorf("%v", err)
	}
	if a.Op == "get" || a.Op == "cas" {
		if _, err := st.Put(a.Key, 0); err != nil {
			t.Errorf("%v", err)
		}
	}
	if err := st.Barrier(a.Key+".start", max(a.Procs, 1)); err != nil {
		t.Errorf("%v", err)
	}
	lat := make([]int64, 0, a.N)
	start := time.Now()
	for i := 0; i < a.N; i++ {
		t0 := time.Now()
		var err error
		switch a.Op {
		case "get":
			var v int
			_, err = st.Get(a.Key, &v)
		case "put":
			_, err = st.Put(a.Key, i)
		case "add":
			_, err = st.Add(a.Key, 1)
		case "cas":
			for {
				var v int
				rev, gerr := st.Get(a.Key, &v)
				if gerr != nil {
					err = gerr
					break
				}
				if _, err = st.CompareAndSwap(a.Key, v+1, rev); !errors.Is(err, sdk.ErrConflict) {
					break
				}
			}
		default:
			t.Errorf("unknown op %q", a.Op)
		}
		if err != nil {
			t.Errorf("%s %d: %v", a.Op, i, err)
		}
		lat = append(lat, time.Since(t0).Microseconds())
	}
	t.SetData(map[string]any{"elapsed_ns": time.Since(start).Nanoseconds(), "lat_us": lat})
}

// FlakyArgs are flaky's arguments.
type FlakyArgs struct {
	Key       string `arg:"key,required"`
	FailTimes int    `arg:"fail_times"`
}

// ManyArgs are many's arguments.
type ManyArgs struct {
	N int `arg:"n,required"`
}

// ChildArgs are childsteps' arguments.
type ChildArgs struct {
	N int `arg:"n"`
}

// ChildSteps reports two nested steps and logs.
func ChildSteps(t *sdk.T, a ChildArgs) {
	t.Logf("child %d says hello", a.N)
	t.Step(fmt.Sprintf("child %d", a.N), func(t *sdk.T) {
		t.Step("inner", func(t *sdk.T) { t.Logf("inner of child %d", a.N) })
	})
}

// Node is a step to report: its result (a pyATS name, or "" for none
// set), its children, and whether a failure in it lets its parent go on.
type Node struct {
	Name     string `json:"name"`
	Result   string `json:"result"`
	Continue bool   `json:"continue"`
	Steps    []Node `json:"steps"`
}

// TreeArgs are tree's arguments: the steps, as JSON (a list of Node).
type TreeArgs struct {
	Steps json.RawMessage `arg:"steps"`
}

// Tree reports the tree it is given.
func Tree(t *sdk.T, a TreeArgs) {
	var steps []Node
	if err := json.Unmarshal(a.Steps, &steps); err != nil {
		t.Errorf("steps: %v", err)
	}
	report(t, steps)
}

func report(t *sdk.T, steps []Node) {
	for _, n := range steps {
		var opts []sdk.StepOption
		if n.Continue {
			opts = append(opts, sdk.Continue)
		}
		t.Step(n.Name, func(t *sdk.T) {
			report(t, n.Steps)
			if n.Result == "" {
				return
			}
			r, err := result.Parse(n.Result)
			if err != nil {
				t.Errorf("%v", err)
			}
			reason := "set to " + n.Result
			switch r {
			case result.Passed:
			case result.Failed:
				t.Failf("%s", reason)
			case result.Errored:
				t.Errorf("%s", reason)
			case result.Aborted:
				t.Abort(reason)
			case result.Blocked:
				t.Block(reason)
			case result.Skipped:
				t.Skip(reason)
			case result.Passx:
				t.Passx(reason)
			}
		}, opts...)
	}
}

// ExitArgs are exit's arguments.
type ExitArgs struct {
	Status int `arg:"status"`
}

// KillArgs are kill's arguments.
type KillArgs struct {
	Signal int `arg:"signal" doc:"signal number (default SIGKILL)"`
}

// HangArgs are hang's arguments.
type HangArgs struct {
	ChildPidFile string `arg:"child_pid_file" doc:"start a child that ignores SIGTERM and write its pid here"`
}

// Hang never returns by itself.
func Hang(t *sdk.T, a HangArgs) {
	t.Step("hang", func(t *sdk.T) {
		if err := t.Sync(); err != nil {
			t.Errorf("sync: %v", err)
		}
		if a.ChildPidFile != "" {
			cmd := exec.Command("sh", "-c", "trap '' TERM; while :; do sleep 1; done")
			if err := cmd.Start(); err != nil {
				t.Errorf("start child: %v", err)
			}
			if err := os.WriteFile(a.ChildPidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
				t.Errorf("%v", err)
			}
			t.Log(fmt.Sprintf("started child %d", cmd.Process.Pid))
		}
		for {
			time.Sleep(time.Hour)
		}
	})
}
