package sdk

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/packserver"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
)

type notifyArgs struct {
	URL string `arg:"url,required"`
}

func hookSet() (*Set, *[]string) {
	var calls []string
	s := NewSet("h", "1.0.0")
	Register(s, "task", "", func(t *T, _ NoArgs) { calls = append(calls, "task") })
	RegisterHook(s, "notify", "Tells.", []Stage{PostJob, PreTask}, func(t *T, h *Hook, a notifyArgs) {
		calls = append(calls, string(h.Stage)+" "+h.Task+" "+a.URL+" "+h.Results.Job+" "+h.Results.Tasks[0].Result.String())
		if h.Stage == PreTask {
			t.Failf("no")
		}
	})
	return s, &calls
}

func TestRegisterHookPanics(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		register func(s *Set)
		want     string
	}{
		"twice": {func(s *Set) {
			RegisterHook(s, "notify", "", []Stage{PreJob}, func(*T, *Hook, NoArgs) {})
		}, `hook "notify" registered twice`},
		"no stages":     {func(s *Set) { RegisterHook(s, "x", "", nil, func(*T, *Hook, NoArgs) {}) }, "has no stages"},
		"unknown stage": {func(s *Set) { RegisterHook(s, "x", "", []Stage{"pre_lunch"}, func(*T, *Hook, NoArgs) {}) }, `unknown stage "pre_lunch"`},
		"args not a struct": {func(s *Set) {
			RegisterHook(s, "x", "", []Stage{PreJob}, func(*T, *Hook, int) {})
		}, "sdk.RegisterHook"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, _ := hookSet()
			defer func() {
				if p := recover(); p == nil || !strings.Contains(p.(string), tc.want) {
					t.Errorf("panic %v, want one with %q", p, tc.want)
				}
			}()
			tc.register(s)
		})
	}
}

func TestDescribeHooks(t *testing.T) {
	t.Parallel()
	s, _ := hookSet()
	sv := packserver.New(s.pack(), hclog.NewNullLogger())
	d, err := sv.Describe(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Hooks) != 1 || d.Hooks[0].Name != "notify" || d.Hooks[0].Doc != "Tells." ||
		!cmp.Equal(d.Hooks[0].Stages, []string{"post_job", "pre_task"}) || len(d.Hooks[0].Args) != 1 || !d.Hooks[0].Args[0].Required {
		t.Errorf("hooks = %v", d.Hooks)
	}
	if !strings.HasPrefix(d.Tasks[0].FuncName, "github.com/taskhost/taskhost/sdk.hookSet.func") {
		t.Errorf("task's function = %q", d.Tasks[0].FuncName)
	}
}

func TestHookCallee(t *testing.T) {
	t.Parallel()
	results := []byte(`{"job":"j","tasks":[{"id":"a","pack":"h","task":"task","result":"failed"}]}`)
	tests := map[string]struct {
		call       pack.Call
		wantErr    string
		wantResult Result
		wantCalls  []string
	}{
		"task": {call: pack.Call{Task: "task"}, wantResult: Passed, wantCalls: []string{"task"}},
		"post_job": {call: pack.Call{ArgsJSON: []byte(`{"url":"u"}`), Hook: &pack.HookCall{Name: "notify", Stage: PostJob, ResultsJSON: results}},
			wantResult: Passed, wantCalls: []string{"post_job  u j failed"}},
		"pre_task fails": {call: pack.Call{ArgsJSON: []byte(`{"url":"u"}`), Hook: &pack.HookCall{Name: "notify", Stage: PreTask, TaskID: "a", ResultsJSON: results}},
			wantResult: Failed, wantCalls: []string{"pre_task a u j failed"}},
		"bad args": {call: pack.Call{ArgsJSON: []byte(`{}`), Hook: &pack.HookCall{Name: "notify", Stage: PostJob, ResultsJSON: results}},
			wantResult: Errored},
		"unknown hook": {call: pack.Call{Hook: &pack.HookCall{Name: "nope", Stage: PostJob}}, wantErr: `pack h has no hook "nope"`},
		"wrong stage":  {call: pack.Call{Hook: &pack.HookCall{Name: "notify", Stage: PreJob}}, wantErr: `does not run at stage "pre_job"`},
		"unknown task": {call: pack.Call{Task: "nope"}, wantErr: `pack h has no task "nope"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, calls := hookSet()
			run, err := s.callee(tc.call)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r, reason := run(context.Background(), &taskenv.Env{TaskID: "x", Emit: emit.NewMem(), PID: 1}, hclog.NewNullLogger())
			if r != tc.wantResult {
				t.Errorf("result %s (%s), want %s", r, reason, tc.wantResult)
			}
			if diff := cmp.Diff(tc.wantCalls, *calls); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}
