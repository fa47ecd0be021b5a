package packs

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxUnpacked bounds what an archive may unpack to.
const maxUnpacked = 1 << 30

// extract unpacks the archive at src into dir, refusing any entry that is
// not a plain file or directory inside dir.
func extract(src, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	if strings.HasSuffix(strings.ToLower(src), ".zip") {
		return extractZip(src, dir)
	}
	return extractTar(src, dir)
}

// entryPath checks an archive entry's name and returns where it goes.
func entryPath(dir, name string) (string, error) {
	clean := strings.TrimSuffix(name, "/")
	if clean == "" || strings.HasPrefix(clean, "/") || strings.Contains(clean, "\\") || !fs.ValidPath(path.Clean(clean)) ||
		!filepath.IsLocal(filepath.FromSlash(clean)) || strings.Contains("/"+clean+"/", "/../") {
		return "", fmt.Errorf("%w: entry %q would be written outside the directory it is unpacked in", ErrUnsafeArchive, name)
	}
	return filepath.Join(dir, filepath.FromSlash(path.Clean(clean))), nil
}

func extractTar(src, dir string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadArchive, src, err)
	}
	tr := tar.NewReader(gz)
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadArchive, src, err)
		}
		dst, err := entryPath(dir, h.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			total += h.Size
			if total > maxUnpacked {
				return fmt.Errorf("%w: %s unpacks to more than %d bytes", ErrBadArchive, src, maxUnpacked)
			}
			if err := writeEntry(dst, tr, h.FileInfo().Mode()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %s: entry %q is a %s, not a plain file or directory", ErrUnsafeArchive, src, h.Name, tarType(h.Typeflag))
		}
	}
}

func tarType(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "named pipe"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}

func extractZip(src, dir string) error {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadArchive, src, err)
	}
	defer zr.Close()
	// Check every entry before writing any.
	var total uint64
	for _, zf := range zr.File {
		if _, err := entryPath(dir, zf.Name); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		mode := zf.Mode()
		if !mode.IsRegular() && !mode.IsDir() {
			return fmt.Errorf("%w: %s: entry %q is a %s, not a plain file or directory", ErrUnsafeArchive, src, zf.Name, modeKind(mode))
		}
		total += zf.UncompressedSize64
	}
	if total > maxUnpacked {
		return fmt.Errorf("%w: %s unpacks to more than %d bytes", ErrBadArchive, src, maxUnpacked)
	}
	for _, zf := range zr.File {
		dst, _ := entryPath(dir, zf.Name)
		if zf.Mode().IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		}
		rc, err := zf.Open()
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrBadArchive, src, err)
		}
		err = writeEntry(dst, io.LimitReader(rc, maxUnpacked), zf.Mode())
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func modeKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	}
	return "special file"
}

func writeEntry(dst string, r io.Reader, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// O_EXCL: a second entry of the same name does not overwrite the first.
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode.Perm()&0o755|0o600)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// findBinary returns the one executable file at the top of an unpacked
// archive.
func findBinary(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var exes []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return "", err
		}
		if info.Mode()&0o111 != 0 {
			exes = append(exes, e.Name())
		}
	}
	if len(exes) != 1 {
		return "", fmt.Errorf("%w: a pack archive holds exactly one executable file at its top level (the pack binary), this one holds %d %v", ErrBadArchive, len(exes), exes)
	}
	return filepath.Join(dir, exes[0]), nil
}
