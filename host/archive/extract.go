package archive

import (
	"archive/zip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Open opens the archive name as the file system of its run directory:
// the files under its top folder, read-only.
func Open(name string) (fs.FS, io.Closer, error) {
	z, err := zip.OpenReader(name)
	if err != nil {
		return nil, nil, err
	}
	top, err := topFolder(name, &z.Reader)
	if err != nil {
		z.Close()
		return nil, nil, err
	}
	sub, err := fs.Sub(z, top)
	if err != nil {
		z.Close()
		return nil, nil, err
	}
	return sub, z, nil
}

// topFolder is the one folder every entry of an archive of a run is in.
func topFolder(name string, z *zip.Reader) (string, error) {
	top := ""
	for _, e := range z.File {
		first, _, _ := strings.Cut(e.Name, "/")
		if top == "" {
			top = first
		}
		if first != top || !fs.ValidPath(first) || first == "." || first == "" {
			return "", fmt.Errorf("%s is not the archive of a run (its entries are not all in one folder)", name)
		}
	}
	if top == "" {
		return "", fmt.Errorf("%s is empty", name)
	}
	return top, nil
}

// Extract unpacks the archive name into the directory dest, and returns
// the run directory it made there. Only regular files and directories
// are made, each under the archive's top folder: an entry that would
// land elsewhere (../, an absolute path) or is anything else (a link) is
// refused.
func Extract(name, dest string) (string, error) {
	z, err := zip.OpenReader(name)
	if err != nil {
		return "", err
	}
	defer z.Close()
	top, err := topFolder(name, &z.Reader)
	if err != nil {
		return "", err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return "", err
	}
	defer root.Close()
	for _, e := range z.File {
		rel := strings.TrimSuffix(e.Name, "/")
		if !fs.ValidPath(rel) || path.Clean(rel) != rel {
			return "", fmt.Errorf("%s: entry %q is not a plain path", name, e.Name)
		}
		mode := e.Mode()
		switch {
		case mode.IsDir():
			if err := root.MkdirAll(rel, 0o700); err != nil {
				return "", err
			}
		case mode.IsRegular():
			if err := root.MkdirAll(path.Dir(rel), 0o700); err != nil {
				return "", err
			}
			if err := extractFile(root, rel, e); err != nil {
				return "", fmt.Errorf("%s: %s: %w", name, e.Name, err)
			}
		default:
			return "", fmt.Errorf("%s: entry %q is not a file or a directory (%s)", name, e.Name, mode.Type())
		}
	}
	return filepath.Join(dest, top), nil
}

func extractFile(root *os.Root, rel string, e *zip.File) error {
	r, err := e.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, e.Mode().Perm()&0o700)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
