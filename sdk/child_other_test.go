//go:build !linux

package sdk

import (
	"syscall"
	"testing"
)

// checkParentDeathSignal: without a parent-death signal, SysProcAttr is
// left as the task set it (nil).
func checkParentDeathSignal(t *testing.T, a *syscall.SysProcAttr) {
	t.Helper()
	if a != nil {
		t.Errorf("SysProcAttr = %+v, want nil", a)
	}
}
