package sdktest_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/sdktest"
)

type countArgs struct {
	Key   string        `arg:"key,required" doc:"the state key to add to"`
	By    int           `doc:"how much to add"`
	Wait  time.Duration `doc:"how long to wait"`
	Fail  bool          `doc:"fail the check step"`
	Hosts []string      `doc:"hosts to greet"`
}

func newSet() *sdk.Set { return newSetStarted(nil) }

// newSetStarted is newSet whose wait task closes started when it begins.
func newSetStarted(started chan struct{}) *sdk.Set {
	s := sdk.NewSet("counter", "1.0.0")
	sdk.Register(s, "count", "Adds to a counter in the shared state.", func(t *sdk.T, a countArgs) {
		t.Section("setup", func(t *sdk.T) {
			for _, h := range a.Hosts {
				t.Step("greet "+h, func(t *sdk.T) { t.Logf("hello %s", h) })
			}
		})
		t.Step("add", func(t *sdk.T) {
			n, err := t.State().Add(a.Key, int64(a.By))
			if err != nil {
				t.Errorf("add: %v", err)
			}
			t.SetData(map[string]any{"now": n})
		})
		t.Step("check", func(t *sdk.T) {
			if a.Fail {
				t.Failf("told to fail after waiting %s", a.Wait)
			}
		})
		t.SetData(map[string]string{"key": a.Key})
	})
	sdk.Register(s, "wait", "Waits until cancelled.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("wait", func(t *sdk.T) {
			close(started)
			<-t.Context().Done()
			t.Log("told to stop")
		})
	})
	return s
}

// TestRun: the result tree, the data, the log and the shared state of a
// task run through the harness, and the state carried to the next run.
func TestRun(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newSet(), sdktest.Config{State: map[string]any{"hits": 40}})
	run := h.Run("count", sdktest.Args{"key": "hits", "by": 2, "hosts": []string{"a", "b"}})
	if run.Result != sdk.Passed {
		t.Fatalf("result %s (%s)\n%s\n%s", run.Result, run.Reason, run.Text(), run.Log)
	}
	type node struct {
		Name   string
		Result sdk.Result
	}
	var got []node
	for _, n := range run.Sections {
		got = append(got, node{n.Name, n.Result})
		for _, k := range n.Sections {
			got = append(got, node{n.Name + "/" + k.Name, k.Result})
		}
	}
	want := []node{{"setup", sdk.Passed}, {"setup/greet a", sdk.Passed}, {"setup/greet b", sdk.Passed}, {"add", sdk.Passed}, {"check", sdk.Passed}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("tree (-want +got):\n%s", d)
	}
	if add := run.Find("add"); add == nil || string(add.Data) != `{"now":42}` {
		t.Errorf("add step: %+v", add)
	}
	if string(run.Data) != `{"key":"hits"}` {
		t.Errorf("data %s", run.Data)
	}
	var hits int
	if ok, err := run.StateValue("hits", &hits); !ok || err != nil || hits != 42 {
		t.Errorf("state hits = %d (%v, %v), want 42", hits, ok, err)
	}
	if !strings.Contains(run.Log, "hello a") || !strings.Contains(run.Log, "hello b") {
		t.Errorf("log:\n%s", run.Log)
	}

	// A second run sees the state the first left, and fails its step.
	run = h.Run("count", sdktest.Args{"key": "hits", "by": 1, "fail": true, "wait": "2s"})
	if run.Result != sdk.Failed || run.Find("check").Reason != "told to fail after waiting 2s" {
		t.Errorf("second run: %s %q\n%s", run.Result, run.Reason, run.Text())
	}
	if ok, _ := run.StateValue("hits", &hits); !ok || hits != 43 {
		t.Errorf("state hits = %d, want 43", hits)
	}
}

// TestArgsChecked: arguments are checked against the schema as the host
// checks a jobfile's.
func TestArgsChecked(t *testing.T) {
	t.Parallel()
	h := sdktest.New(t, newSet())
	for name, tc := range map[string]struct {
		args sdktest.Args
		want string
	}{
		"missing":    {sdktest.Args{"by": 1}, `requires the argument "key"`},
		"unknown":    {sdktest.Args{"key": "k", "bogus": 1}, `"bogus"`},
		"wrong type": {sdktest.Args{"key": "k", "by": "many"}, "by"},
	} {
		if _, err := h.CheckArgs("count", tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}
	if d := h.Describe(); d.Name != "counter" || d.Version != "1.0.0" || len(d.Tasks) != 2 || len(d.ProtocolVersions) == 0 {
		t.Errorf("describe: %+v", d)
	}
}

// TestCancel: cancelling the context cancels the task's T.Context.
func TestCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	h := sdktest.New(t, newSetStarted(started))
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		<-started
		cancel(errors.New("stopped by the test"))
	}()
	run := h.RunContext(ctx, "wait", nil)
	if run.Result != sdk.Aborted || run.Reason != "stopped by the test" {
		t.Errorf("%s %q\n%s", run.Result, run.Reason, run.Text())
	}
	if !strings.Contains(run.Log, "told to stop") {
		t.Errorf("log:\n%s", run.Log)
	}
}
