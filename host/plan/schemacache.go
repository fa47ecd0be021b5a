package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/packwire"
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

// cacheFormat numbers the form of a cache entry: a DescribeResponse, the
// same in pack protocol versions 1 and 2. A change of that message that is
// a new protocol version bumps it, so that no entry of the old form is
// read.
const cacheFormat = 1

// cacheEntryName is the name of the cache file for the pack binary at
// path with the given SHA-256: the entry's form, the hash, and the
// binary's name, which a program may read (os.Args[0]) and act on.
func cacheEntryName(path, sum string) string {
	name := strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, filepath.Base(path))
	return fmt.Sprintf("pack-v%d-%s-%s.pb", cacheFormat, sum, name)
}

// lookupCached returns the cached description of the pack binary at
// path, or nil and the name of the cache entry that would hold it ("":
// none, the cache is off or the binary cannot be read). Entries are keyed
// by the SHA-256 of the binary (and its name): the same binary always
// describes itself the same way, so an entry never goes stale; a changed
// binary has another hash.
func lookupCached(path string) (*packwire.Description, string) {
	dir := SchemaCacheDir()
	if dir == "" {
		return nil, ""
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		// Let the launch say what is wrong with the binary.
		return nil, ""
	}
	sum, err := launch.HexSHA256(path)
	if err != nil {
		return nil, ""
	}
	entry := filepath.Join(dir, cacheEntryName(path, sum))
	if b, err := os.ReadFile(entry); err == nil {
		if d, err := packwire.UnmarshalDescription(b); err == nil {
			return d, entry
		}
	}
	return nil, entry
}

// describeAndStore starts the pack that cfg starts to ask for its
// description (launch.Describe; cfg.SHA256, if set, pins the hash the
// binary must have when it is started), and stores it in the cache entry
// (if not ""). Writers never clash: each writes a file of its own and
// renames it into place, which is atomic, and every writer writes the
// same bytes.
func describeAndStore(ctx context.Context, cfg launch.Config, entry string) (*packwire.Description, error) {
	d, err := launch.Describe(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if entry == "" {
		return d, nil
	}
	if b, err := packwire.MarshalDescription(d); err == nil {
		_ = writeAtomic(filepath.Dir(entry), entry, b)
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
