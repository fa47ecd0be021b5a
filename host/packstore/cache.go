package packstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/taskhost/taskhost/host/launch"
)

// Cache is an agent's directory of pack binaries, each named by its
// SHA-256 in hex, filled from a Store. One agent process uses a cache
// directory at a time; its methods are safe for concurrent use.
type Cache struct {
	// Dir is the cache directory; it is made (0700) if missing, and
	// refused if others may enter it.
	Dir string
	// Store is where a binary missing from Dir is fetched from; nil
	// serves from Dir only.
	Store *Store
	// Platform is the agent's; a binary built for another is refused.
	// The zero value is this process's (runtime.GOOS, runtime.GOARCH).
	Platform Platform

	mu        sync.Mutex
	locks     map[string]*sync.Mutex // per hash, while it is fetched or checked
	platforms map[string]Platform    // of the binaries checked, by hash
}

// Path returns the path of the pack binary whose SHA-256 is hexsum, built
// for the agent's platform, fetching it from the Store if it is not in
// the cache. It never returns a path whose content does not have that
// hash: a fetched binary is hashed as it is written to <hex>.tmp and
// renamed to <hex> (0500) only if it matches; a cached one is hashed
// again if it may have changed since its last check in this process
// (launch.Verify). A binary that does not match is removed, and the error
// wraps ErrHashMismatch and names both hashes. A binary of another
// platform is refused with ErrWrongPlatform.
func (c *Cache) Path(ctx context.Context, hexsum string) (string, error) {
	sum, err := parseHex(hexsum)
	if err != nil {
		return "", err
	}
	unlock := c.lock(hexsum)
	defer unlock()
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return "", fmt.Errorf("packstore: %w", err)
	}
	if st, err := os.Stat(c.Dir); err != nil {
		return "", fmt.Errorf("packstore: %w", err)
	} else if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("packstore: the cache directory %s is open to others (mode %v): make it 0700", c.Dir, st.Mode().Perm())
	}
	path := filepath.Join(c.Dir, hexsum)
	st, err := os.Lstat(path)
	switch {
	case err == nil && !st.Mode().IsRegular():
		return "", fmt.Errorf("packstore: %s is not a regular file", path)
	case err == nil:
		if err := c.checkCached(path, hexsum, sum); err != nil {
			return "", err
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := c.fetch(ctx, path, hexsum, sum); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("packstore: %w", err)
	}
	if err := c.checkPlatform(path, hexsum); err != nil {
		return "", err
	}
	return path, nil
}

func (c *Cache) lock(hexsum string) (unlock func()) {
	c.mu.Lock()
	if c.locks == nil {
		c.locks = map[string]*sync.Mutex{}
	}
	l := c.locks[hexsum]
	if l == nil {
		l = &sync.Mutex{}
		c.locks[hexsum] = l
	}
	c.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// checkCached checks the cached binary at path against sum, and removes
// it if it does not match.
func (c *Cache) checkCached(path, hexsum string, sum []byte) error {
	err := launch.Verify(path, sum)
	if err == nil {
		return nil
	}
	got, herr := launch.FileSHA256(path)
	if rerr := os.Remove(path); rerr != nil {
		return fmt.Errorf("%w: cached %s (want %s): %v; and it could not be removed: %v", ErrHashMismatch, path, hexsum, err, rerr)
	}
	if herr != nil {
		return fmt.Errorf("%w: cached %s (want %s): %v; removed", ErrHashMismatch, path, hexsum, herr)
	}
	return fmt.Errorf("%w: cached %s changed (want %s, got %x); removed", ErrHashMismatch, path, hexsum, got)
}

// fetch gets the object hexsum from the Store into path, through
// path.tmp, hashing it as it writes.
func (c *Cache) fetch(ctx context.Context, path, hexsum string, sum []byte) error {
	if c.Store == nil {
		return fmt.Errorf("packstore: pack binary %s is not in the cache %s, and there is no store to fetch it from", hexsum, c.Dir)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("packstore: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	err = c.Store.get(ctx, hexsum, io.MultiWriter(f, h))
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("packstore: pack binary %s is not in the object store %s", hexsum, Bucket)
	}
	if err != nil {
		return fmt.Errorf("packstore: fetch %s: %w", hexsum, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum) {
		return fmt.Errorf("%w: hash of fetched binary differs (want %s, got %x); not kept", ErrHashMismatch, hexsum, got)
	}
	if err := f.Chmod(0o500); err != nil {
		return fmt.Errorf("packstore: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("packstore: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("packstore: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("packstore: %w", err)
	}
	keep = true
	return nil
}

// checkPlatform refuses a binary built for another platform than the
// agent's. What a hash's binary is built for never changes, so it is read
// once per hash.
func (c *Cache) checkPlatform(path, hexsum string) error {
	want := c.Platform
	if want == (Platform{}) {
		want = Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	}
	c.mu.Lock()
	p, ok := c.platforms[hexsum]
	c.mu.Unlock()
	if !ok {
		var err error
		if p, err = PlatformOf(path); err != nil {
			return fmt.Errorf("packstore: pack binary %s: %w", hexsum, err)
		}
		c.mu.Lock()
		if c.platforms == nil {
			c.platforms = map[string]Platform{}
		}
		c.platforms[hexsum] = p
		c.mu.Unlock()
	}
	if p != want {
		return fmt.Errorf("%w: pack binary %s is for %s, and this agent is %s", ErrWrongPlatform, hexsum, p, want)
	}
	return nil
}
