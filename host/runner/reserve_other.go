//go:build !linux

package runner

import "os"

// allocate takes size bytes of disk for f.
func allocate(f *os.File, size int) error { return writeRoom(f, size) }
