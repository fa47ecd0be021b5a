package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/internal/packwire"
)

// TestRemoteCapable: a pack runs on agents only when it speaks pack
// protocol 2, which carries the hub's CA; the refusal names the pack,
// what it speaks and what to do.
func TestRemoteCapable(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		versions []int32
		ok       bool
	}{
		"this SDK":              {versions: []int32{1, 2}, ok: true},
		"only version 2":        {versions: []int32{2}, ok: true},
		"a later SDK":           {versions: []int32{2, 3}, ok: true},
		"an SDK of version 1":   {versions: []int32{1}},
		"no versions described": {},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := RemoteCapable(&packwire.Description{Name: "net", ProtocolVersions: tc.versions})
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrPackTooOldForAgents) {
				t.Fatalf("%v, want ErrPackTooOldForAgents", err)
			}
			for _, want := range []string{"pack net ", "tasks on agents need 2", "rebuild it with this taskhost's SDK"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q lacks %q", err, want)
				}
			}
		})
	}
}
