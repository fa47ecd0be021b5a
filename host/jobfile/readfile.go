package jobfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/hashicorp/hcl/v2"
)

// ErrNotRegular is wrapped by the error of readFile for a path that is not
// a regular file: a FIFO, a device, a socket or a directory, any of which
// could block a read or never end.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error of readFile for a file larger than
// its limit.
var ErrTooLarge = errors.New("too large")

// readFile reads the file at path, which must be a regular file of at
// most max bytes (MaxFileBytes or MaxSourceBytes). Everything a jobfile
// load reads goes through it. Its errors of its own say "it" for the
// file: the caller names it.
//
// The file is opened without blocking (opening a FIFO for reading
// otherwise waits for a writer) and checked on the open descriptor, so a
// path swapped between a check and the open is caught too; the read stops
// one byte past the limit, for a file that grows while it is read.
func readFile(path string, max int) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("it is %s, %w", fileKind(fi.Mode()), ErrNotRegular)
	}
	if fi.Size() > int64(max) {
		return nil, fmt.Errorf("it is %s bytes, %w: at most %s are read (%s)", thousands(int(fi.Size())), ErrTooLarge, thousands(max), limitsDoc)
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("it grew past %s bytes while read, %w (%s)", thousands(max), ErrTooLarge, limitsDoc)
	}
	return b, nil
}

// fileKind names the kind of file of a mode that is not regular.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}

// ReadSource reads an HCL file for a reader other than the loader (taskhost
// fmt, the lock file) within the loader's limits: a regular file of at most
// MaxSourceBytes, nested at most MaxDepth deep, with numbers of at most
// MaxNumberLength characters, so that HCL's parser, which recurses once per
// level, can neither crash nor hang on it. A file past a limit, or that
// cannot be read, gives diagnostics.
func ReadSource(path string) ([]byte, hcl.Diagnostics) {
	src, err := readFile(path, MaxSourceBytes)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read file",
			Detail:   fmt.Sprintf("The file %s could not be read: %s.", path, err),
		}}
	}
	if diags := CheckSource(src, path); diags.HasErrors() {
		return nil, diags
	}
	return src, nil
}

// CheckSource checks HCL source read elsewhere than from a file (taskhost
// fmt -, from standard input) against ReadSource's limits but the size,
// which its reader bounds; filename names it in the diagnostics.
func CheckSource(src []byte, filename string) hcl.Diagnostics {
	return capDiagnostics(checkSource(src, filename, sourceConfig))
}
