package logship

import (
	"errors"
	"fmt"
	"strings"
)

// MaxChunk is the most bytes of a file one chunk carries.
const MaxChunk = 64 << 10

// maxName bounds a file name, as most file systems do.
const maxName = 255

// ErrBadName is the error of a file name CheckName refuses.
var ErrBadName = errors.New("not a plain file name: a log file is shipped only from and to the attempt's own directory")

// CheckName says why name cannot be the name of a shipped log file, or
// nil if it can: it must be a plain name in the attempt's directory, so
// it may not be empty or longer than 255 bytes, nor hold a path
// separator ('/' or '\\'), "..", or a NUL.
func CheckName(name string) error {
	if name == "" || len(name) > maxName || name == "." || strings.ContainsAny(name, "/\\\x00") || strings.Contains(name, "..") {
		return fmt.Errorf("log file %q: %w", name, ErrBadName)
	}
	return nil
}
