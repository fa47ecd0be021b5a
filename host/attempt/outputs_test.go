package attempt

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A pack's outputs that are not JSON are left out and named.
func TestCheckOutputs(t *testing.T) {
	t.Parallel()
	out, refused := checkOutputs(map[string][]byte{"ok": []byte(`{"a":1}`), "bad": []byte(`{"a":`), "worse": []byte("x")})
	if d := cmp.Diff(map[string][]byte{"ok": []byte(`{"a":1}`)}, out); d != "" {
		t.Errorf("outputs kept (-want +got):\n%s", d)
	}
	if refused != `refused outputs that are not JSON: ["bad" "worse"]` {
		t.Errorf("refused = %q", refused)
	}
	if out, refused := checkOutputs(nil); out != nil || refused != "" {
		t.Errorf("no outputs: %v %q", out, refused)
	}
}
