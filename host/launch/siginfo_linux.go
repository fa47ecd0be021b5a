package launch

import (
	"fmt"
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

// CLD_* codes from <signal.h>.
const (
	cldExited = 1
	cldKilled = 2
	cldDumped = 3
)

func describeExit(info *unix.Siginfo) string {
	c := (*sigchld)(unsafe.Pointer(info))
	switch c.Code {
	case cldExited:
		return fmt.Sprintf("exited with status %d", c.Status)
	case cldKilled, cldDumped:
		return "killed by " + unix.SignalName(unix.Signal(c.Status))
	}
	return fmt.Sprintf("ended (code %d, status %d)", c.Code, c.Status)
}
