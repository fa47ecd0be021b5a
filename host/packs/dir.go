package packs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-version"

	"github.com/taskhost/taskhost/host/jobfile"
)

// EnvDir names the environment variable that sets the packs directory.
const EnvDir = "TASKHOST_PACKS_DIR"

// DirName is the packs directory's path under the directory it is found
// from.
var DirName = filepath.Join(".taskhost", "packs")

// DefaultDir is the packs directory of the current directory (see Dir).
func DefaultDir() string { return Dir{}.root() }

// Platform is this host's os_arch, such as "linux_amd64": the directory
// of the packs directory that holds binaries for it.
func Platform() string { return runtime.GOOS + "_" + runtime.GOARCH }

// Dir is a packs directory.
type Dir struct {
	// Root is the directory's path. When it is "", it is
	// $TASKHOST_PACKS_DIR, or else the nearest .taskhost/packs in From or
	// a directory above it, or else .taskhost/packs in From.
	Root string
	// From is where the packs directory is found from when Root is "": the
	// jobfile's directory, for the packs of a jobfile (where its lock file
	// is); "" means the current directory.
	From string
}

// ForJob is d for the packs of the jobfile at jobFile: found from the
// jobfile's directory, as its lock file is, unless d has a Root.
func (d Dir) ForJob(jobFile string) Dir {
	if d.Root == "" {
		d.From = filepath.Dir(jobFile)
	}
	return d
}

func (d Dir) root() string {
	if d.Root != "" {
		return d.Root
	}
	if e := os.Getenv(EnvDir); e != "" {
		return e
	}
	from := d.From
	if from == "" {
		from = "."
	}
	here := filepath.Join(from, DirName)
	abs, err := filepath.Abs(from)
	if err != nil {
		return here
	}
	for dir := abs; ; {
		p := filepath.Join(dir, DirName)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if dir == abs {
				return here
			}
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return here
		}
		dir = parent
	}
}

// Path is the packs directory's path.
func (d Dir) Path() string { return d.root() }

// Where says how the packs directory was found, for an error that names
// it.
func (d Dir) Where() string {
	switch {
	case d.Root != "":
		return "the packs directory is " + d.Root + " (--packs-dir)"
	case os.Getenv(EnvDir) != "":
		return fmt.Sprintf("the packs directory is %s ($%s); give another with --packs-dir", d.root(), EnvDir)
	}
	from := "the current directory"
	if d.From != "" {
		from = "the jobfile's directory"
	}
	return fmt.Sprintf("packs are looked for in the nearest %s at or above %s; give another packs directory with --packs-dir or $%s", DirName, from, EnvDir)
}

// Installed is a pack in the packs directory, as pack.json records it.
type Installed struct {
	Name             string    `json:"name"`
	Version          string    `json:"version"`
	Platform         string    `json:"platform"`
	SHA256           string    `json:"sha256"`
	ProtocolVersions []int32   `json:"protocol_versions"`
	SDKVersion       string    `json:"sdk_version"`
	Source           string    `json:"source"`
	InstalledAt      time.Time `json:"installed_at"`
	// Path is the binary's path (not stored).
	Path string `json:"-"`
}

const recordName = "pack.json"

// ErrNotInstalled is returned for a pack or version that is not in the
// packs directory.
var ErrNotInstalled = errors.New("pack not installed")

// List returns every installed pack of every platform, by name, then
// version (oldest first), then platform.
func (d Dir) List() ([]*Installed, error) {
	matches, err := filepath.Glob(filepath.Join(d.root(), "*", "*", "*", recordName))
	if err != nil {
		return nil, err
	}
	var out []*Installed
	for _, m := range matches {
		rel, _ := filepath.Rel(d.root(), m)
		if strings.HasPrefix(rel, ".") {
			continue // an install being staged
		}
		in, err := readRecord(filepath.Dir(m))
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b *Installed) int {
		if a.Name != b.Name {
			if a.Name < b.Name {
				return -1
			}
			return 1
		}
		if c := compareVersions(a.Version, b.Version); c != 0 {
			return c
		}
		if a.Platform < b.Platform {
			return -1
		}
		if a.Platform > b.Platform {
			return 1
		}
		return 0
	})
	return out, nil
}

func compareVersions(a, b string) int {
	va, ea := version.NewSemver(a)
	vb, eb := version.NewSemver(b)
	if ea != nil || eb != nil {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	return va.Compare(vb)
}

// Versions returns the installed versions of the pack for this platform,
// oldest first.
func (d Dir) Versions(name string) ([]*Installed, error) {
	all, err := d.List()
	if err != nil {
		return nil, err
	}
	var out []*Installed
	for _, in := range all {
		if in.Name == name && in.Platform == Platform() {
			out = append(out, in)
		}
	}
	return out, nil
}

// Find returns the installed pack name at version for this platform.
func (d Dir) Find(name, ver string) (*Installed, error) {
	in, err := readRecord(filepath.Join(d.root(), name, ver, Platform()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s %s for %s is not in %s", ErrNotInstalled, name, ver, Platform(), d.root())
	}
	return in, err
}

// Newest returns the newest installed version of the pack for this
// platform that c allows (any version when c is nil).
func (d Dir) Newest(name string, c version.Constraints) (*Installed, error) {
	vs, err := d.Versions(name)
	if err != nil {
		return nil, err
	}
	var have []string
	for i := len(vs) - 1; i >= 0; i-- {
		v, err := version.NewSemver(vs[i].Version)
		if err != nil {
			continue
		}
		if c == nil || c.Check(v) {
			return vs[i], nil
		}
		have = append(have, vs[i].Version)
	}
	if len(have) == 0 {
		return nil, fmt.Errorf("%w: no version of %s for %s is in %s (install one with `taskhost packs install SOURCE`)", ErrNotInstalled, name, Platform(), d.root())
	}
	return nil, fmt.Errorf("%w: no installed version of %s matches %q (installed: %v; install one that does with `taskhost packs install SOURCE`)", ErrNotInstalled, name, c.String(), have)
}

// Remove removes version ver of the pack, for every platform.
func (d Dir) Remove(name, ver string) error {
	dir := filepath.Join(d.root(), name, ver)
	if _, err := version.NewSemver(ver); err != nil || !jobfile.ValidPackName(name) {
		return fmt.Errorf("%s@%s is not a pack name and version (such as net@1.2.0)", name, ver)
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%w: %s %s is not in %s", ErrNotInstalled, name, ver, d.root())
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	// The pack's directory goes too when it was its last version.
	_ = os.Remove(filepath.Join(d.root(), name))
	return nil
}

func readRecord(dir string) (*Installed, error) {
	b, err := os.ReadFile(filepath.Join(dir, recordName))
	if err != nil {
		return nil, err
	}
	in := &Installed{}
	if err := json.Unmarshal(b, in); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, recordName), err)
	}
	in.Path = filepath.Join(dir, in.Name)
	return in, nil
}

func writeRecord(dir string, in *Installed) error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, recordName), append(b, '\n'), 0o644)
}
