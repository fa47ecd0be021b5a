package launch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrChecksumMismatch is wrapped by Start when a pinned pack's binary does
// not have the SHA-256 it was pinned with.
var ErrChecksumMismatch = errors.New("pack binary does not match its pinned SHA-256")

func checksumError(path string, want []byte) error {
	got, err := FileSHA256(path)
	if err != nil {
		return fmt.Errorf("%w: %s: want %x: %v", ErrChecksumMismatch, path, want, err)
	}
	return fmt.Errorf("%w: %s has SHA-256 %x, pinned %x (reinstall the pinned version, or run `taskhost packs lock` if the change is meant)", ErrChecksumMismatch, path, got, want)
}

// FileSHA256 returns the SHA-256 of the file at path.
func FileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// HexSHA256 is FileSHA256 as lower-case hex.
func HexSHA256(path string) (string, error) {
	sum, err := FileSHA256(path)
	return hex.EncodeToString(sum), err
}

// A pinned binary is hashed in full at its first start in this process,
// and again whenever it may have changed since: a later start trusts the
// earlier check only while the file is the same file (device, inode) with
// the same size, modification and change times, and its change time is
// well before that check, so that a write in the same clock tick as the
// check cannot go unseen. The kernel sets the change time on every write
// and no user can set it back; so a file that passes this test has the
// bytes that were hashed, and hashing 20 MB again for every task is
// saved.

// fileID is what must not change for a checked file to be taken as
// unchanged.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds
	checkedAt    int64 // when it was hashed, nanoseconds
	sum          string
}

var verified sync.Map // path → fileID

// settled is how long before a check the file's change time must be for
// the check to be trusted later.
const settled = time.Second

func statID(path string) (fileID, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fileID{}, false
	}
	return fileID{dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}, true
}

// verifiedBefore says whether the file at path was found to have sum by
// an earlier start and is unchanged since.
func verifiedBefore(path string, sum []byte) bool {
	v, ok := verified.Load(path)
	if !ok {
		return false
	}
	was := v.(fileID)
	now, ok := statID(path)
	if !ok || was.sum != string(sum) || was.ctime > was.checkedAt-int64(settled) {
		return false
	}
	now.checkedAt, now.sum = was.checkedAt, was.sum
	return now == was
}

// remember records that the file at path, as it was at id, had sum.
func remember(path string, id fileID, sum []byte) {
	id.sum = string(sum)
	verified.Store(path, id)
}

// Verify checks that the file at path has the SHA-256 sum, hashing it
// only if no earlier check in this process is still good (see above); a
// mismatch wraps ErrChecksumMismatch and names both hashes. Start makes
// this check of a pinned binary.
func Verify(path string, sum []byte) error {
	if verifiedBefore(path, sum) {
		return nil
	}
	id, _ := statID(path)
	id.checkedAt = time.Now().UnixNano()
	if got, err := FileSHA256(path); err != nil || !bytes.Equal(got, sum) {
		return checksumError(path, sum)
	}
	if id.ino != 0 {
		remember(path, id, sum)
	}
	return nil
}

// StillVerified says whether the pinned binary at path was hashed and
// found to have sum by an earlier start, and is provably unchanged since.
// A process started earlier from a pinned binary is as good as a new one
// only while this holds.
func StillVerified(path string, sum []byte) bool { return verifiedBefore(path, sum) }
