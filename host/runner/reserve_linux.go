package runner

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate takes size bytes of disk for f: fallocate(2), which takes the
// blocks without writing them, where the file system has it.
func allocate(f *os.File, size int) error {
	err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size))
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return writeRoom(f, size)
	}
	return err
}
