package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/taskhost/taskhost/host/launch"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
)

// CacheDirEnv names the environment variable that sets the directory of
// the pack description cache; "off" turns the cache off. By default it is
// taskhost/schemas under the user's cache directory (os.UserCacheDir).
const CacheDirEnv = "TASKHOST_CACHE_DIR"

// SchemaCacheDir returns the directory that holds the cached pack
// descriptions, or "" when there is no cache.
func SchemaCacheDir() string {
	switch d := os.Getenv(CacheDirEnv); d {
	case "off":
		return ""
	case "":
		base, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(base, "taskhost", "schemas")
	default:
		return d
	}
}

// fileSHA256 returns the hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cacheEntryName is the name of the cache file for the pack binary at
// path with the given SHA-256: the protocol version, the hash, and the
// binary's name, which a program may read (os.Args[0]) and act on.
func cacheEntryName(path, sum string) string {
	name := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, filepath.Base(path))
	return fmt.Sprintf("pack-v%d-%s-%s.pb", protocol.Versions[len(protocol.Versions)-1], sum, name)
}

// describeCached returns the description of the pack at path from the
// cache, keyed by the SHA-256 of the binary (and its name), or starts the pack to ask
// for it and stores it. The same binary always describes itself the same
// way, so an entry never goes stale; a changed binary has another hash.
// base is how the pack is started (its path is set here), pinned, if set,
// the hash the binary must have when it is started.
// Writers never clash: each writes a file of its own and renames it into
// place, which is atomic, and every writer writes the same bytes.
func describeCached(ctx context.Context, base launch.Config, path string, pinned []byte) (*packv1.DescribeResponse, error) {
	dir := SchemaCacheDir()
	if dir == "" {
		return describe(ctx, base, path, pinned)
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		// Let the launch say what is wrong with the binary.
		return describe(ctx, base, path, pinned)
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return describe(ctx, base, path, pinned)
	}
	entry := filepath.Join(dir, cacheEntryName(path, sum))
	if b, err := os.ReadFile(entry); err == nil {
		d := &packv1.DescribeResponse{}
		if proto.Unmarshal(b, d) == nil {
			return d, nil
		}
	}
	d, err := describe(ctx, base, path, pinned)
	if err != nil {
		return nil, err
	}
	if b, err := proto.Marshal(d); err == nil {
		_ = writeAtomic(dir, entry, b)
	}
	return d, nil
}

// writeAtomic writes b to path through a temporary file in dir and a
// rename, so that readers see the whole file or none.
func writeAtomic(dir, path string, b []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", f.Name(), errorsJoin(werr, cerr))
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
