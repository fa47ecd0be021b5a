package attempt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/internal/packtest"
	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/result"
)

// testPack is the pack the tests call: tasks that pass, fail, stop when
// told, or never stop; and a hook.
func testPack(t *testing.T) *sdk.Set {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) }) // the call that never stops, at the test's end
	s := sdk.NewSet("p", "1.0.0")
	sdk.Register(s, "pass", "Passes.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("ok", func(t *sdk.T) {})
		t.SetData(map[string]int{"n": 1})
	})
	sdk.Register(s, "fail", "Fails.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("check", func(t *sdk.T) { t.Failf("told to fail") })
	})
	sdk.Register(s, "wait", "Waits until told to stop.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("wait", func(t *sdk.T) { <-t.Context().Done() })
	})
	sdk.Register(s, "hang", "Never stops by itself.", func(t *sdk.T, _ sdk.NoArgs) {
		t.Step("hang", func(t *sdk.T) { <-hang })
	})
	sdk.RegisterHook(s, "note", "Passes.", sdk.Stages, func(t *sdk.T, h *sdk.Hook, _ sdk.NoArgs) {
		t.Step("note "+string(h.Stage), func(t *sdk.T) {})
	})
	sdk.RegisterHook(s, "slow", "Waits until told to stop.", sdk.Stages, func(t *sdk.T, h *sdk.Hook, _ sdk.NoArgs) {
		<-t.Context().Done()
	})
	return s
}

// starterFunc is a Starter made of a function.
type starterFunc func(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error)

func (f starterFunc) Start(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error) {
	return f(ctx, c, out)
}

// deadPack is a pack whose process died during the call.
type deadPack struct {
	how    string // how it ended; "" if it did not
	killed bool
}

func (p *deadPack) PID() int { return 42 }
func (p *deadPack) Run(context.Context, attempt.Call) (attempt.Reply, error) {
	return attempt.Reply{}, errors.New("connection reset by peer")
}
func (p *deadPack) WaitExit(time.Duration) (string, bool) { return p.how, p.how != "" }
func (p *deadPack) KillNow()                              { p.killed = true }
func (p *deadPack) Kill()                                 { p.killed = true }

// syncBuffer is a log safe to write from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestRun: how an attempt of a task or a hook ends, and what its log
// says, for each way a call can end: it returns (its result, its tree
// rolled up); its timeout ends it while it runs (it returns within its
// grace period, or is killed after it) or before its pack served; its
// pack does not start; its process dies during the call.
func TestRun(t *testing.T) {
	t.Parallel()
	type want struct {
		Result   result.Result
		Reason   string
		Sections []string
		Started  bool
	}
	for name, tc := range map[string]struct {
		call    attempt.Call
		opts    attempt.Options
		starter func(in attempt.Starter) attempt.Starter
		want    want
		log     []string // lines the attempt's log must have
		notLog  []string // and must not
	}{
		"passes": {
			call: attempt.Call{Task: "pass"},
			want: want{Result: result.Passed, Sections: []string{"ok"}, Started: true},
		},
		"fails, with the reason of its failed step": {
			call: attempt.Call{Task: "fail"},
			want: want{Result: result.Failed, Reason: "1 check: told to fail", Sections: []string{"check"}, Started: true},
		},
		"stopped by its timeout, returns within its grace": {
			call:   attempt.Call{Task: "wait"},
			opts:   attempt.Options{Timeout: 200 * time.Millisecond, Grace: time.Minute},
			want:   want{Result: result.Aborted, Reason: "timed out after 200ms", Sections: []string{"wait"}, Started: true},
			log:    []string{"stopping the task: reason=\"timed out after 200ms\""},
			notLog: []string{"did not return within the grace period"},
		},
		"stopped by its timeout, killed after its grace": {
			call: attempt.Call{Task: "hang"},
			opts: attempt.Options{Timeout: 200 * time.Millisecond, Grace: 100 * time.Millisecond},
			want: want{Result: result.Aborted, Reason: "timed out after 200ms", Sections: []string{"hang"}, Started: true},
			log:  []string{"the task did not return within the grace period; killing its process group"},
		},
		"its timeout covers its pack's start-up": {
			call: attempt.Call{Task: "pass"},
			opts: attempt.Options{Timeout: 100 * time.Millisecond},
			starter: func(attempt.Starter) attempt.Starter {
				return starterFunc(func(ctx context.Context, _ attempt.Call, _ io.Writer) (attempt.Pack, error) {
					<-ctx.Done()
					return nil, context.Cause(ctx)
				})
			},
			want: want{Result: result.Aborted, Reason: "timed out after 100ms"},
			log:  []string{"stopping the task before its pack served"},
		},
		"its pack does not start": {
			call: attempt.Call{Task: "pass"},
			starter: func(attempt.Starter) attempt.Starter {
				return starterFunc(func(context.Context, attempt.Call, io.Writer) (attempt.Pack, error) {
					return nil, errors.New("pack binary /x does not exist")
				})
			},
			want: want{Result: result.Errored, Reason: "pack binary /x does not exist"},
			log:  []string{"pack did not start"},
		},
		"its process dies during the call": {
			call: attempt.Call{Task: "pass"},
			starter: func(attempt.Starter) attempt.Starter {
				return starterFunc(func(context.Context, attempt.Call, io.Writer) (attempt.Pack, error) {
					return &deadPack{how: "exited with status 3"}, nil
				})
			},
			want: want{Result: result.Errored, Reason: "exited with status 3", Started: true},
			log:  []string{"task process ended abnormally"},
		},
		"the call fails and its process lives on": {
			call: attempt.Call{Task: "pass"},
			starter: func(attempt.Starter) attempt.Starter {
				return starterFunc(func(context.Context, attempt.Call, io.Writer) (attempt.Pack, error) {
					return &deadPack{}, nil
				})
			},
			want: want{Result: result.Errored, Reason: "lost the pack: connection reset by peer", Started: true},
		},
		"a hook passes": {
			call: attempt.Call{Hook: &attempt.HookCall{Name: "note", Stage: "post_job", Results: []byte(`{"job":"j"}`)}},
			want: want{Result: result.Passed, Sections: []string{"note post_job"}, Started: true},
		},
		"a hook's timeout stops it": {
			call:   attempt.Call{Hook: &attempt.HookCall{Name: "slow", Stage: "pre_job", Results: []byte(`{"job":"j"}`)}},
			opts:   attempt.Options{Timeout: 200 * time.Millisecond, Grace: time.Minute},
			want:   want{Result: result.Aborted, Reason: "timed out after 200ms", Started: true},
			log:    []string{"stopping the hook: reason=\"timed out after 200ms\""},
			notLog: []string{"did not return within the grace period"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			var starter attempt.Starter = packtest.Starter{T: t, Packs: map[string]*sdk.Set{"p": testPack(t)}}
			if tc.starter != nil {
				starter = tc.starter(starter)
			}
			r := &attempt.Runner{Starter: starter, Hub: h.Attempts(), RunDir: t.TempDir()}
			defer r.Wait()
			var log syncBuffer
			c := tc.call
			c.Pack, c.Args, c.RunID, c.ID, c.Attempt = "p", []byte(`{}`), "run", "t1", 1
			o := tc.opts
			o.Slot, o.Out = 1, &log
			var startedPID int
			o.Started = func(pid int, _ string) { startedPID = pid }

			got := r.Run(context.Background(), c, o)

			g := want{Result: got.Result, Reason: got.Reason, Started: startedPID != 0 && startedPID == got.PID}
			for _, n := range got.Sections {
				g.Sections = append(g.Sections, n.Name)
			}
			if d := cmp.Diff(tc.want, g); d != "" {
				t.Errorf("outcome (-want +got):\n%s\nlog:\n%s", d, log.String())
			}
			for _, l := range tc.log {
				if !strings.Contains(log.String(), l) {
					t.Errorf("the attempt's log lacks %q:\n%s", l, log.String())
				}
			}
			for _, l := range tc.notLog {
				if strings.Contains(log.String(), l) {
					t.Errorf("the attempt's log has %q:\n%s", l, log.String())
				}
			}
		})
	}
}

// TestRunSendsTheCall: the pack is sent the call as given, with the
// hub's credentials for the call's slot and the deadline of its timeout.
func TestRunSendsTheCall(t *testing.T) {
	t.Parallel()
	h, err := hub.Start(hub.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var sent attempt.Call
	starter := starterFunc(func(context.Context, attempt.Call, io.Writer) (attempt.Pack, error) {
		return &recordingPack{sent: &sent, hub: h}, nil
	})
	r := &attempt.Runner{Starter: starter, Hub: h.Attempts()}
	defer r.Wait()
	call := attempt.Call{Pack: "p", Task: "pass", Args: []byte(`{"a":1}`), RunID: "run", ID: "t1", Attempt: 2,
		LogDir: "/runs/x/tasks/t1", Sensitive: []string{"s3cret"}}
	before := time.Now()
	got := r.Run(context.Background(), call, attempt.Options{Slot: 7, RecordDir: "tasks/t1", Timeout: time.Hour})
	if got.Result != result.Passed {
		t.Fatalf("result %s: %s", got.Result, got.Reason)
	}
	if sent.Hub.Token == "" || !strings.HasSuffix(sent.Hub.EventsSubject, ".t7") || sent.Hub.URL != h.URL() {
		t.Errorf("hub access %+v, want a token and the subject of slot 7", sent.Hub)
	}
	if dl := sent.Deadline; dl.Before(before.Add(time.Hour)) || dl.After(time.Now().Add(time.Hour)) {
		t.Errorf("deadline %s, want an hour from the call", dl)
	}
	sent.Hub, sent.Deadline = attempt.HubAccess{}, time.Time{}
	if d := cmp.Diff(call, sent); d != "" {
		t.Errorf("call sent (-want +got):\n%s", d)
	}
}

// recordingPack keeps the call it is sent and passes, having sent no
// events, once the hub has read what it stored so far (the slot's note:
// hub.Seal reads the slot's task id unlocked, which a call that returns
// before the hub read the note races with).
type recordingPack struct {
	sent *attempt.Call
	hub  *hub.Hub
}

func (p *recordingPack) PID() int { return 1 }
func (p *recordingPack) Run(ctx context.Context, c attempt.Call) (attempt.Reply, error) {
	*p.sent = c
	if err := p.hub.Drain(ctx); err != nil {
		return attempt.Reply{}, err
	}
	return attempt.Reply{Result: result.Passed}, nil
}
func (p *recordingPack) WaitExit(time.Duration) (string, bool) { return "", false }
func (p *recordingPack) KillNow()                              {}
func (p *recordingPack) Kill()                                 {}
