package stateclient

import (
	"errors"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/internal/statekv"
)

// A write the server refuses because the state is full is ErrStateFull,
// with the server's reason; another refusal is not.
func TestStateFullError(t *testing.T) {
	t.Parallel()
	full := statekv.Response{Status: statekv.StatusInvalid, Msg: statekv.FullPrefix + `"k" (10 bytes) would take it to 2000 bytes, over its limit of 1024 (max_state_bytes)`}
	err := failure(full, "k")
	if !errors.Is(err, ErrStateFull) || !strings.Contains(err.Error(), "over its limit of 1024 (max_state_bytes)") {
		t.Errorf("full: %v, want ErrStateFull with the reason", err)
	}
	other := statekv.Response{Status: statekv.StatusInvalid, Msg: "the value of \"k\" is not JSON"}
	if err := failure(other, "k"); errors.Is(err, ErrStateFull) {
		t.Errorf("another refusal is ErrStateFull: %v", err)
	}
}
