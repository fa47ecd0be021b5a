package sdk

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/internal/report"
)

type checkArgs struct {
	Host  string            `arg:",required" doc:"The host to check."`
	Count int               `doc:"How many pings."`
	Fail  bool              `doc:"Fail on purpose."`
	Tags  []string          `arg:"labels"`
	Meta  map[string]string `arg:"-"`
}

// testSet is a pack with a task that passes or fails as asked and one
// without arguments.
func testSet() *Set {
	s := NewSet("demo", "1.2.3")
	Register(s, "check", "Checks a host.\nMore detail here.", func(t *T, a checkArgs) {
		t.Section("setup", func(t *T) {
			t.Step("connect", func(t *T) {
				if a.Fail {
					t.Failf("host %s down after %d pings", a.Host, a.Count)
				}
				t.SetData(map[string]any{"host": a.Host, "count": a.Count, "labels": a.Tags})
			})
		})
	})
	Register(s, "noop", "", func(t *T, _ NoArgs) {})
	return s
}

// rawJSON compares JSON texts by their compact form.
var rawJSON = cmp.Comparer(func(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
})

func TestCLIDescribe(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := testSet().cli([]string{"describe"}, &stdout, &stderr); code != 0 {
		t.Fatalf("describe exit code = %d, want 0; stderr:\n%s", code, stderr.String())
	}
	var got Description
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("describe output does not decode: %v", err)
	}
	if len(protocol.Versions) == 0 {
		t.Fatal("protocol.Versions is empty")
	}
	want := Description{
		Name: "demo", Version: "1.2.3", ProtocolVersions: protocol.Versions, SDKVersion: Version,
		Tasks: []TaskInfo{
			{Name: "check", Doc: "Checks a host.\nMore detail here.", Args: []ArgInfo{
				{Name: "host", Type: json.RawMessage(`"string"`), Doc: "The host to check.", Required: true},
				{Name: "count", Type: json.RawMessage(`"number"`), Doc: "How many pings."},
				{Name: "fail", Type: json.RawMessage(`"bool"`), Doc: "Fail on purpose."},
				{Name: "labels", Type: json.RawMessage(`["list","string"]`)},
			}},
			{Name: "noop", Args: []ArgInfo{}},
		},
	}
	if diff := cmp.Diff(want, got, rawJSON); diff != "" {
		t.Errorf("describe (-want +got):\n%s", diff)
	}
	if stderr.Len() != 0 {
		t.Errorf("describe wrote to stderr:\n%s", stderr.String())
	}
}

func TestCLIRunText(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args     []string
		wantCode int
		want     []string // regexps, one per line of stdout
	}{
		"passing": {
			args:     []string{"run", "check", "--arg", "host=r1"},
			wantCode: 0,
			want: []string{
				`^check \.{2,} PASSED$`,
				`^  1 setup \.{2,} PASSED$`,
				`^    1\.1 connect \.{2,} PASSED$`,
			},
		},
		"failing": {
			args:     []string{"run", "check", "--arg", "host=r1", "--arg", "fail=true", "--arg", "count=3"},
			wantCode: 1,
			want: []string{
				`^check \.{2,} FAILED$`,
				`^  1 setup \.{2,} FAILED$`,
				`^    1\.1 connect \.{2,} FAILED  \(host r1 down after 3 pings\)$`,
			},
		},
		"missing required argument": {
			args:     []string{"run", "check"},
			wantCode: 1,
			want:     []string{`^check \.{2,} ERRORED  \(bad arguments: missing required argument "host"\)$`},
		},
		"no arguments": {
			args:     []string{"run", "noop"},
			wantCode: 0,
			want:     []string{`^noop \.{2,} PASSED$`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := testSet().cli(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("stdout has %d lines, want %d:\n%s", len(lines), len(tc.want), stdout.String())
			}
			for i, l := range lines {
				if !regexp.MustCompile(tc.want[i]).MatchString(l) {
					t.Errorf("line %d = %q, want it to match %s", i+1, l, tc.want[i])
				}
			}
		})
	}
}

func TestCLIRunLogsToStderr(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := testSet().cli([]string{"run", "check", "--arg", "host=r1", "--arg", "fail=true"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit code = %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "host r1 down") {
		t.Errorf("the task's log is not on stderr:\n%s", stderr.String())
	}
}

func TestCLIRunJSON(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := testSet().cli([]string{"run", "check", "--json", "--arg", "host=r9", "--arg", "count=2", "--arg", `labels=["a","b"]`}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code = %d, want 0; stderr:\n%s", code, stderr.String())
	}
	var got struct {
		Task     string         `json:"task"`
		Result   report.Outcome `json:"result"`
		Sections []*report.Node `json:"sections"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("--json output does not decode: %v\n%s", err, stdout.String())
	}
	if got.Task != "check" {
		t.Errorf("task = %q, want check", got.Task)
	}
	if diff := cmp.Diff(report.Outcome{Value: Passed}, got.Result, rawJSON); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	want := []tnode{{ID: "1", Name: "setup", Type: sec, Result: Passed, Kids: []tnode{
		{ID: "1.1", Name: "connect", Type: step, Result: Passed, Data: `{"count":2,"host":"r9","labels":["a","b"]}`},
	}}}
	gotTree := simplify(got.Sections)
	// The data is re-indented in the output; compare it compact.
	for i := range gotTree {
		for j := range gotTree[i].Kids {
			var b bytes.Buffer
			if err := json.Compact(&b, []byte(gotTree[i].Kids[j].Data)); err == nil {
				gotTree[i].Kids[j].Data = b.String()
			}
		}
	}
	if diff := cmp.Diff(want, gotTree); diff != "" {
		t.Errorf("sections (-want +got):\n%s", diff)
	}
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args     []string
		wantCode int
		wantErr  []string // each must appear on stderr
	}{
		"unknown task": {
			args: []string{"run", "nope"}, wantCode: 2,
			wantErr: []string{`pack demo has no task "nope"`, "check, noop"},
		},
		"unknown arg": {
			args: []string{"run", "check", "--arg", "colour=red"}, wantCode: 2,
			wantErr: []string{`task check has no argument "colour"`, "host, count, fail, labels"},
		},
		"left-out field is unknown": {
			args: []string{"run", "check", "--arg", "meta=x"}, wantCode: 2,
			wantErr: []string{`no argument "meta"`},
		},
		"arg without value": {
			args: []string{"run", "check", "--arg", "host"}, wantCode: 2,
			wantErr: []string{`--arg "host": want key=value`},
		},
		"number not json": {
			args: []string{"run", "check", "--arg", "host=a", "--arg", "count=many"}, wantCode: 2,
			wantErr: []string{`argument "count" wants number; "many" is not JSON`},
		},
		"unknown flag": {
			args: []string{"run", "check", "--colour"}, wantCode: 2,
			wantErr: []string{"colour"},
		},
		"run without task": {
			args: []string{"run"}, wantCode: 2,
			wantErr: []string{"usage: run TASK"},
		},
		"flag before task": {
			args: []string{"run", "--json", "check"}, wantCode: 2,
			wantErr: []string{"usage: run TASK"},
		},
		"no command": {
			args: nil, wantCode: 2,
			wantErr: []string{"Usage:", "describe", "check", "Checks a host.", "noop"},
		},
		"unknown command": {
			args: []string{"frobnicate"}, wantCode: 2,
			wantErr: []string{`unknown command "frobnicate"`, "Usage:"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := testSet().cli(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", code, tc.wantCode)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr.String())
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout is not empty:\n%s", stdout.String())
			}
		})
	}
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	if code := testSet().cli([]string{"help"}, &stdout, &stderr); code != 0 {
		t.Errorf("help exit code = %d, want 0", code)
	}
	// Only the first line of a task's doc is listed.
	if !strings.Contains(stderr.String(), "Checks a host.") || strings.Contains(stderr.String(), "More detail here.") {
		t.Errorf("help output:\n%s", stderr.String())
	}
}
