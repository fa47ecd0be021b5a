// Package archive zips a run directory, as pyATS archives its runs, and
// lists and reads the runs and archives of a runs directory. See
// docs/reports.md.
package archive

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/taskhost/taskhost/host/results"
)

// DirName is the directory of archives under a runs directory.
const DirName = "archive"

// Path is where the archive of the run directory dir goes: under
// archiveDir, in a folder per month of the run's start (YY-MM, as pyATS),
// named after the run: archive/26-11/demo.20261127-042446.zip.
func Path(archiveDir, runDir string, start time.Time) string {
	return filepath.Join(archiveDir, start.Local().Format("06-01"), filepath.Base(runDir)+".zip")
}

// Zip writes the run directory dir, every file under it, to the zip file
// name, under a top folder named after the run. The file appears whole or
// not at all. Whoever may read the run directory may read the archive,
// and nobody else: the archive has the mode of the files in dir
// (results.FileMode) and its group, and the directories made for it the
// mode and group of dir.
func Zip(name, dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	if err := mkdirLike(filepath.Dir(name), st); err != nil {
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), ".archive-*.zip")
	if err != nil {
		return err
	}
	err = writeZip(tmp, dir)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ownLike(tmp.Name(), st, results.FileMode(dir))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("archive %s: %w", dir, err)
	}
	return os.Rename(tmp.Name(), name)
}

// mkdirLike makes dir and its missing parents with like's mode and group.
func mkdirLike(dir string, like os.FileInfo) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirLike(parent, like); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return ownLike(dir, like, like.Mode()&(os.ModePerm|os.ModeSetgid))
}

// ownLike gives path mode, and like's group when like lets its group in.
func ownLike(path string, like os.FileInfo, mode os.FileMode) error {
	if sys, ok := like.Sys().(*syscall.Stat_t); ok && like.Mode()&0o070 != 0 {
		if err := os.Chown(path, -1, int(sys.Gid)); err != nil {
			return err
		}
	}
	return os.Chmod(path, mode)
}

func writeZip(w io.Writer, dir string) error {
	z := zip.NewWriter(w)
	top := filepath.Base(dir)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !d.IsDir() {
			return nil // sockets, links: not part of the record
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = path.Join(top, filepath.ToSlash(rel))
		if d.IsDir() {
			h.Name += "/"
		} else {
			h.Method = zip.Deflate
		}
		fw, err := z.CreateHeader(h)
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(fw, f)
		return err
	})
	if err != nil {
		return err
	}
	return z.Close()
}

// ReadResults reads the results.json of the run in the archive name.
func ReadResults(name string) (*results.File, error) {
	z, err := zip.OpenReader(name)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	for _, e := range z.File {
		parts := strings.Split(strings.Trim(e.Name, "/"), "/")
		if len(parts) != 2 || parts[1] != "results.json" {
			continue
		}
		r, err := e.Open()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		var f results.File
		if err := json.NewDecoder(r).Decode(&f); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, e.Name, err)
		}
		return &f, nil
	}
	return nil, fmt.Errorf("%s has no results.json (not the archive of a finished run)", name)
}

// Run is a past run found in a runs directory: a run directory, an
// archive, or both.
type Run struct {
	ID      string
	Dir     string // "" when only archived
	Archive string // "" when not archived
	// File is its record; nil when it has none (a run still going, or
	// whose host died), and then Err says why.
	File *results.File
	Err  error
}

// List finds the runs of runsDir (its run directories, and the archives
// under runsDir/archive and archiveDir if not ""), oldest first.
func List(runsDir, archiveDir string) ([]*Run, error) {
	byID := map[string]*Run{}
	get := func(id string) *Run {
		if byID[id] == nil {
			byID[id] = &Run{ID: id}
		}
		return byID[id]
	}
	entries, err := os.ReadDir(runsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == DirName {
			continue
		}
		dir := filepath.Join(runsDir, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "job.log")); err != nil {
			continue // not a run directory
		}
		r := get(e.Name())
		r.Dir = dir
		r.File, r.Err = results.Read(filepath.Join(dir, "results.json"))
	}
	dirs := []string{filepath.Join(runsDir, DirName)}
	if archiveDir != "" && filepath.Clean(archiveDir) != dirs[0] {
		dirs = append(dirs, archiveDir)
	}
	for _, ad := range dirs {
		zips, _ := filepath.Glob(filepath.Join(ad, "*", "*.zip"))
		for _, z := range zips {
			r := get(strings.TrimSuffix(filepath.Base(z), ".zip"))
			r.Archive = z
			if r.File == nil {
				r.File, r.Err = ReadResults(z)
			}
		}
	}
	var out []*Run
	for _, r := range byID {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := out[i].start(), out[j].start()
		if !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func (r *Run) start() time.Time {
	if r.File != nil {
		return r.File.Report.StartTime
	}
	return time.Time{}
}
