package sdk

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/go-hclog"

	"github.com/taskhost/taskhost/sdk/internal/emit"
	"github.com/taskhost/taskhost/sdk/internal/taskenv"
)

func TestSetOutput(t *testing.T) {
	t.Parallel()
	s := NewSet("p", "1.0.0")
	Register(s, "setup", "", func(t *T, _ NoArgs) {})
	s.DeclareOutputs("setup", Output{Name: "addr", Doc: "the address"}, Output{Name: "ports"})

	tests := map[string]struct {
		fn     func(t *T)
		child  bool
		want   map[string]string
		result Result
		reason string
	}{
		"set": {
			fn: func(t *T) {
				t.SetOutput("addr", "192.0.2.1")
				t.SetOutput("ports", []int{22, 830})
				t.SetOutput("addr", "192.0.2.2")
			},
			want:   map[string]string{"addr": `"192.0.2.2"`, "ports": `[22,830]`},
			result: Passed,
		},
		"from a step": {
			fn:     func(t *T) { t.Step("s", func(t *T) { t.SetOutput("addr", 1) }) },
			want:   map[string]string{"addr": `1`},
			result: Passed,
		},
		"undeclared": {
			fn:     func(t *T) { t.SetOutput("nope", 1) },
			want:   map[string]string{},
			result: Errored,
			reason: `SetOutput("nope"): the task declares no such output`,
		},
		"not JSON": {
			fn:     func(t *T) { t.SetOutput("addr", func() {}) },
			want:   map[string]string{},
			result: Errored,
			reason: `SetOutput("addr"): json: unsupported type`,
		},
		"child process": {
			fn:     func(t *T) { t.SetOutput("addr", 1) },
			child:  true,
			result: Errored,
			reason: "outputs can be set only in the task's own process",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rs := &taskenv.Env{TaskID: "x", Emit: emit.NewMem(), PID: 1}
			if !tc.child {
				d := s.Describe()
				rs.Outputs = taskenv.NewOutputs(d.OutputNames("setup"))
			}
			r, reason := runTask(context.Background(), rs, hclog.NewNullLogger(), tc.fn)
			if r != tc.result || !strings.Contains(reason, tc.reason) {
				t.Errorf("got %v %q, want %v containing %q", r, reason, tc.result, tc.reason)
			}
			got := map[string]string{}
			for k, v := range rs.Outputs.Snapshot() {
				got[k] = string(v)
			}
			if tc.child {
				got = nil
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outputs (-want +got):\n%s", diff)
			}
		})
	}

	d := s.Describe()
	want := []OutputInfo{{Name: "addr", Doc: "the address"}, {Name: "ports"}}
	if diff := cmp.Diff(want, d.Tasks[0].Outputs); diff != "" {
		t.Errorf("described outputs (-want +got):\n%s", diff)
	}
}
