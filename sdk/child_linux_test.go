package sdk

import (
	"syscall"
	"testing"
)

// checkParentDeathSignal: on Linux a child gets SIGKILL when the task
// process dies.
func checkParentDeathSignal(t *testing.T, a *syscall.SysProcAttr) {
	t.Helper()
	if a == nil || a.Pdeathsig != syscall.SIGKILL {
		t.Errorf("SysProcAttr = %+v, want Pdeathsig SIGKILL", a)
	}
}
