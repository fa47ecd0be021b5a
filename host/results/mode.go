package results

import "os"

// FileMode is the mode of a new file in dir, a run directory or one of
// its directories: the read and write bits of dir's own mode. A private
// run directory (0700) holds private files (0600); one shared with a
// group (2750), files the group may read (0640); the directory of an
// older run (0755), files anyone may read (0644), as they were.
// (docs/reliability.md, "Who can read a run".)
func FileMode(dir string) os.FileMode {
	st, err := os.Stat(dir)
	if err != nil {
		return 0o600
	}
	return st.Mode().Perm() & 0o666
}
