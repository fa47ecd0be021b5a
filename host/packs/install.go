package packs

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-version"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
)

// Errors of Install, for errors.Is.
var (
	// ErrChecksum: the source's SHA-256 is not the one SHA256SUMS lists.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrNoChecksum: an archive came without a SHA256SUMS that lists it.
	ErrNoChecksum = errors.New("no checksum")
	// ErrUnsafeArchive: an archive entry would land outside the directory
	// it is unpacked in (../, an absolute path) or is a link or device.
	ErrUnsafeArchive = errors.New("unsafe archive")
	// ErrBadArchive: the archive does not hold exactly one pack binary.
	ErrBadArchive = errors.New("bad pack archive")
	// ErrNotAPack: the binary did not start as a taskhost pack, did not
	// describe itself, or described itself with a bad name or version or
	// in a way the host cannot read.
	ErrNotAPack = launch.ErrNotAPack
	// ErrInstalled: that version is installed already with another SHA-256.
	ErrInstalled = errors.New("already installed")
)

// SumsFile is the name of the checksum file that comes with a release:
// lines of "SHA-256 in hex, two spaces, file name", as sha256sum prints.
const SumsFile = "SHA256SUMS"

// InstallOptions are the options of Install; the zero value is fine.
type InstallOptions struct {
	// Sums is the SHA256SUMS file that lists the source; "" means the
	// SHA256SUMS beside the source. An archive must be listed; a bare
	// binary is checked when a SHA256SUMS beside it lists it.
	Sums string
	// Force replaces an installed version whose binary differs.
	Force bool
}

// InstallResult says what Install did.
type InstallResult struct {
	*Installed
	// Verified is true when a SHA256SUMS listed the source and matched.
	Verified bool
	// Already is true when the same binary was installed already.
	Already bool
}

// Install installs the pack binary or release archive (.tar.gz, .tgz or
// .zip) at source: it checks the source against SHA256SUMS, starts the
// binary to read its description, and moves it to NAME/VERSION/OS_ARCH.
// On any error the packs directory is as it was.
func (d Dir) Install(ctx context.Context, source string, o InstallOptions) (*InstallResult, error) {
	root := d.root()
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(root, ".install-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	archive := isArchive(source)
	verified, err := checkSums(source, o.Sums, archive)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(stage, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return nil, err
	}
	bin := filepath.Join(stage, "pack")
	if archive {
		x := filepath.Join(stage, "x")
		if err := extract(source, x); err != nil {
			return nil, err
		}
		exe, err := findBinary(x)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		bin = exe
	} else if err := copyFile(source, bin); err != nil {
		return nil, err
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return nil, err
	}
	sum, err := launch.FileSHA256(bin)
	if err != nil {
		return nil, err
	}
	desc, err := launch.Describe(ctx, launch.Config{Path: bin, SHA256: sum})
	if err != nil {
		// Name the source, not the staged copy.
		msg := strings.TrimPrefix(err.Error(), ErrNotAPack.Error()+": ")
		msg = strings.ReplaceAll(strings.TrimPrefix(msg, bin+": "), bin, source)
		if errors.Is(err, ErrNotAPack) {
			return nil, fmt.Errorf("%w: %s: %s", ErrNotAPack, source, msg)
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	name, ver := desc.Name, desc.Version
	if !jobfile.ValidPackName(name) {
		return nil, fmt.Errorf("%w: %s calls itself %q, which cannot be a pack name (letters, digits, '.', '_' and '-')", ErrNotAPack, source, name)
	}
	if _, err := version.NewSemver(ver); err != nil {
		return nil, fmt.Errorf("%w: %s gives its version as %q, which is not a semantic version (like 1.2.0): %v", ErrNotAPack, source, ver, err)
	}
	in := &Installed{
		Name: name, Version: ver, Platform: Platform(), SHA256: hex.EncodeToString(sum),
		ProtocolVersions: desc.ProtocolVersions, SDKVersion: desc.SDKVersion,
		Source: absOr(source), InstalledAt: time.Now().UTC().Truncate(time.Second),
	}
	if err := os.Rename(bin, filepath.Join(out, name)); err != nil {
		return nil, err
	}
	if err := writeRecord(out, in); err != nil {
		return nil, err
	}

	verDir := filepath.Join(root, name, ver)
	final := filepath.Join(verDir, Platform())
	if old, err := readRecord(final); err == nil {
		if old.SHA256 == in.SHA256 {
			return &InstallResult{Installed: old, Verified: verified, Already: true}, nil
		}
		if !o.Force {
			return nil, fmt.Errorf("%w: %s %s for %s is installed with SHA-256 %s, and %s has %s: a release's binary should not change; remove it first or use --force", ErrInstalled, name, ver, Platform(), old.SHA256, source, in.SHA256)
		}
		if err := os.Rename(final, filepath.Join(stage, "old")); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(verDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Rename(out, final); err != nil {
		return nil, err
	}
	in.Path = filepath.Join(final, name)
	return &InstallResult{Installed: in, Verified: verified}, nil
}

func isArchive(path string) bool {
	l := strings.ToLower(path)
	return strings.HasSuffix(l, ".tar.gz") || strings.HasSuffix(l, ".tgz") || strings.HasSuffix(l, ".zip")
}

// checkSums checks source against the SHA256SUMS that lists it.
func checkSums(source, sums string, required bool) (verified bool, err error) {
	explicit := sums != ""
	if !explicit {
		sums = filepath.Join(filepath.Dir(source), SumsFile)
	}
	want, err := readSums(sums, filepath.Base(source))
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist) && !explicit && !required:
		return false, nil // a local build: nothing to check against
	case errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("%w: %s is not listed in a %s (%v): a release archive comes with one; give it with --sums", ErrNoChecksum, source, SumsFile, err)
	default:
		return false, err
	}
	got, err := launch.HexSHA256(source)
	if err != nil {
		return false, err
	}
	if got != want {
		return false, fmt.Errorf("%w: %s has SHA-256 %s, but %s lists %s: the download is damaged or not the release", ErrChecksum, source, got, sums, want)
	}
	return true, nil
}

// readSums returns the hash that the SHA256SUMS file at path lists for
// name; fs.ErrNotExist when the file does not exist or does not list it.
func readSums(path, name string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		file := strings.TrimPrefix(fields[1], "*") // sha256sum's binary mode
		file = strings.TrimPrefix(file, "./")
		if file == name {
			return strings.ToLower(fields[0]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s does not list %s: %w", path, name, fs.ErrNotExist)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	if st, err := in.Stat(); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory: give a pack binary or a release archive", from)
	}
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func absOr(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
