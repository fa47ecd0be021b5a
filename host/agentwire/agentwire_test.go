package agentwire

import (
	"strings"
	"testing"
)

// A message of another version is refused; one of this version decodes.
func TestDecodeChecksVersion(t *testing.T) {
	t.Parallel()
	var c Claim
	if err := Decode(Encode(Claim{Version: Version, ID: "7"}), &c); err != nil || c.ID != "7" {
		t.Fatalf("this version: %+v, %v", c, err)
	}
	err := Decode(Encode(Claim{Version: Version + 1, ID: "7"}), &c)
	if err == nil || !strings.Contains(err.Error(), "version") {
		t.Fatalf("another version: %v, want refused", err)
	}
}

// The host reads the agent of a report from its subject, and from no
// other run's subjects.
func TestAgentOf(t *testing.T) {
	t.Parallel()
	n := Names{RunKey: "abc"}
	for subject, want := range map[string]string{
		n.Claim("a1"):         "a1",
		n.Done("a-2"):         "a-2",
		n.State("a1"):         "a1",
		"th.other.a.a1.claim": "",
		"th.abc.a.a1.log.3":   "",
		"th.abc.ctl.a1":       "",
	} {
		if got := n.AgentOf(subject); got != want {
			t.Errorf("AgentOf(%q) = %q, want %q", subject, got, want)
		}
	}
}

// A log subject gives its agent and slot back; other subjects, and
// another run's, give none.
func TestLogOf(t *testing.T) {
	t.Parallel()
	n := Names{RunKey: "abc"}
	type want struct {
		agent string
		slot  int
		ok    bool
	}
	for subject, w := range map[string]want{
		n.Log("a1", 3):        {"a1", 3, true},
		n.Log("a-2", 0):       {"a-2", 0, true},
		"th.other.a.a1.log.3": {},
		"th.abc.a.a1.log.03":  {},
		"th.abc.a.a1.log.-1":  {},
		"th.abc.a.a1.log.x":   {},
		"th.abc.a.a1.log.3.4": {},
		n.Claim("a1"):         {},
		"th.abc.a.a1.state.3": {},
	} {
		agent, slot, ok := n.LogOf(subject)
		if (want{agent, slot, ok}) != w {
			t.Errorf("LogOf(%q) = %q, %d, %v; want %+v", subject, agent, slot, ok, w)
		}
	}
}

func TestConnName(t *testing.T) {
	labels := map[string]string{"os": "linux", "lab": "sjc"}
	s := ConnName("a1", labels)
	if s != "taskhost-agent a1 lab=sjc,os=linux" {
		t.Fatalf("ConnName = %q", s)
	}
	name, got, err := ParseConnName(s)
	if err != nil || name != "a1" || len(got) != 2 || got["lab"] != "sjc" || got["os"] != "linux" {
		t.Fatalf("ParseConnName = %q %v %v", name, got, err)
	}
	for _, bad := range []string{"a1 lab=sjc", "taskhost-agent A1 lab=sjc", "taskhost-agent a1 lab", "taskhost-agent a1 lab=sjc,lab=nyc", "taskhost-agent a1 Lab=x"} {
		if _, _, err := ParseConnName(bad); err == nil {
			t.Errorf("ParseConnName(%q) took it", bad)
		}
	}
	if !Satisfies(labels, map[string]string{"lab": "sjc"}) || Satisfies(labels, map[string]string{"lab": "nyc"}) || Satisfies(labels, map[string]string{"rack": "1"}) {
		t.Error("Satisfies")
	}
}
