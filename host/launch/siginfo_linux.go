package launch

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The kernel's siginfo_t for SIGCHLD: after signo, errno and code (three
// int32s, then padding to 8 bytes on 64-bit) come pid, uid and status.
type sigchld struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      int32
	Pid    int32
	Uid    uint32
	Status int32
}

func siginfoPid(info *unix.Siginfo) int {
	return int((*sigchld)(unsafe.Pointer(info)).Pid)
}
