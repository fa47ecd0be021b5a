//go:build !linux

package taskenv

import "syscall"

// parentDeathSignal is nil where the kernel has no parent-death signal: a
// child is killed when the task's context ends, and with the pack's
// process group when the host ends the task.
func parentDeathSignal() *syscall.SysProcAttr { return nil }
