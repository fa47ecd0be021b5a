package launch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-plugin"
)

// ErrChecksumMismatch is wrapped by Start when a pinned pack's binary does
// not have the SHA-256 it was pinned with.
var ErrChecksumMismatch = errors.New("pack binary does not match its pinned SHA-256")

func secureConfig(sum []byte) *plugin.SecureConfig {
	if sum == nil {
		return nil
	}
	return &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
}

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
