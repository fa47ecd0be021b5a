package packwire

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/sdk/result"
)

var ctyEqual = cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) })

func wire() *packv1.DescribeResponse {
	return &packv1.DescribeResponse{
		Name: "net", Version: "1.2.0", ProtocolVersions: []int32{1}, SdkVersion: "0.9.0",
		Tasks: []*packv1.TaskSpec{{
			Name: "ping", Doc: "Pings.", FuncName: "main.Ping",
			Args: []*packv1.ArgSpec{
				{Name: "host", TypeJson: []byte(`"string"`), Doc: "Where.", Required: true},
				{Name: "ports", TypeJson: []byte(`["list","number"]`)},
			},
			Outputs: []*packv1.OutputSpec{{Name: "rtt", Doc: "Round trip."}},
		}, {Name: "noop"}},
		Hooks: []*packv1.HookSpec{{
			Name: "audit", Stages: []string{"pre_job", "post_task"},
			Args: []*packv1.ArgSpec{{Name: "opts", TypeJson: []byte(`["object",{"a":"bool"}]`)}},
		}},
	}
}

func TestFromDescribe(t *testing.T) {
	t.Parallel()
	got, err := FromDescribe(wire())
	if err != nil {
		t.Fatal(err)
	}
	want := &Description{
		Name: "net", Version: "1.2.0", ProtocolVersions: []int32{1}, SDKVersion: "0.9.0",
		Tasks: []TaskSpec{{
			Name: "ping", Doc: "Pings.", FuncName: "main.Ping",
			Args: []ArgSpec{
				{Name: "host", Type: cty.String, Doc: "Where.", Required: true},
				{Name: "ports", Type: cty.List(cty.Number)},
			},
			Outputs: []OutputSpec{{Name: "rtt", Doc: "Round trip."}},
		}, {Name: "noop", Args: []ArgSpec{}}},
		Hooks: []HookSpec{{
			Name: "audit", Stages: []result.Stage{result.PreJob, result.PostTask},
			Args: []ArgSpec{{Name: "opts", Type: cty.Object(map[string]cty.Type{"a": cty.Bool})}},
		}},
	}
	if diff := cmp.Diff(want, got, ctyEqual); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.Task("ping").FuncName != "main.Ping" || got.Task("nosuch") != nil || got.Hook("audit") == nil || got.Hook("ping") != nil {
		t.Errorf("Task/Hook lookups: %+v", got)
	}
	var none *Description
	if none.Task("ping") != nil || none.Hook("audit") != nil {
		t.Error("a nil Description serves something")
	}
}

func TestFromDescribeBadType(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		bad  func(*packv1.DescribeResponse)
		want string
	}{
		"task": {func(w *packv1.DescribeResponse) { w.Tasks[0].Args[1].TypeJson = []byte(`"nosuch"`) },
			`task ping, argument ports: bad type "nosuch": `},
		"hook": {func(w *packv1.DescribeResponse) { w.Hooks[0].Args[0].TypeJson = []byte(`{`) },
			`hook audit, argument opts: bad type {: `},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := wire()
			tc.bad(w)
			d, err := FromDescribe(w)
			var de *DescriptionError
			if d != nil || !errors.As(err, &de) || len(de.Detail) < len(tc.want) || de.Detail[:len(tc.want)] != tc.want {
				t.Errorf("got %v, %v; want a DescriptionError starting %q", d, err, tc.want)
			}
		})
	}
}

// TestMarshalRoundTrip: what MarshalDescription writes reads back as the
// same Description.
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	d, err := FromDescribe(wire())
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalDescription(d)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalDescription(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(d, back, ctyEqual); diff != "" {
		t.Errorf("(-marshalled +read back):\n%s", diff)
	}
	if _, err := UnmarshalDescription([]byte{0xff, 0xff}); err == nil {
		t.Error("garbage decoded")
	}
}

// TestJSON: a Description's JSON is the shape `PACK describe` prints:
// types as go-cty's JSON type encoding, no function names, empty lists of
// tasks and args as [].
func TestJSON(t *testing.T) {
	t.Parallel()
	d, err := FromDescribe(wire())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"net","version":"1.2.0","protocol_versions":[1],"sdk_version":"0.9.0","tasks":[` +
		`{"name":"ping","doc":"Pings.","args":[{"name":"host","type":"string","doc":"Where.","required":true},{"name":"ports","type":["list","number"]}],"outputs":[{"name":"rtt","doc":"Round trip."}]},` +
		`{"name":"noop","args":[]}],` +
		`"hooks":[{"name":"audit","stages":["pre_job","post_task"],"args":[{"name":"opts","type":["object",{"a":"bool"}]}]}]}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	empty, _ := FromDescribe(&packv1.DescribeResponse{Name: "e"})
	b, _ = json.Marshal(empty)
	if want := `{"name":"e","version":"","protocol_versions":null,"sdk_version":"","tasks":[]}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
