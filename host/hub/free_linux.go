package hub

import "golang.org/x/sys/unix"

// freeSpace is the space free for an ordinary user on the file system of
// dir; ok is false when it cannot be told.
func freeSpace(dir string) (free uint64, ok bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}
