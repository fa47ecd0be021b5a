package taskenv

import "syscall"

// parentDeathSignal asks the kernel to kill a child with SIGKILL when the
// task process that started it dies.
func parentDeathSignal() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
