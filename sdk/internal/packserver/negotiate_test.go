package packserver

import (
	"bytes"
	"testing"
)

// The version served is go-plugin's choice: the highest of the pack's
// that the host offered, else the pack's lowest (which the host then
// refuses with both sides' versions); a version the host wrote wrong is
// said on stderr and skipped.
func TestNegotiate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		offered string
		ours    []int
		want    int
		warn    string
	}{
		{"1,2", []int{1, 2}, 2, ""},
		{"2,1", []int{1, 2}, 2, ""},
		{"1", []int{1, 2}, 1, ""},
		{"1", []int{2}, 2, ""},
		{"", []int{1, 2}, 1, ""},
		{"3,4", []int{1, 2}, 1, ""},
		{"x,2", []int{1, 2}, 2, `server sent invalid plugin version "x"`},
	} {
		var stderr bytes.Buffer
		if got := negotiate(c.offered, c.ours, &stderr); got != c.want {
			t.Errorf("negotiate(%q, %v) = %d, want %d", c.offered, c.ours, got, c.want)
		}
		if stderr.String() != c.warn {
			t.Errorf("negotiate(%q, %v) said %q, want %q", c.offered, c.ours, stderr.String(), c.warn)
		}
	}
}
