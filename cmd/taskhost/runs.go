package main

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
	"strings"

	"github.com/taskhost/taskhost/host/results"
)

// openRun reads the results.json of a run given as a run directory, an
// archive of one (.zip), or a run id looked up in runsDir and its
// archives. It returns the record and where it was found.
func openRun(ref, runsDir string) (*results.File, string, error) {
	if strings.HasSuffix(ref, ".zip") {
		f, err := readArchive(ref)
		return f, ref, err
	}
	if st, err := os.Stat(ref); err == nil && st.IsDir() {
		f, err := results.Read(filepath.Join(ref, "results.json"))
		if err != nil {
			return nil, "", fmt.Errorf("%s is not a finished run: %w", ref, err)
		}
		return f, ref, nil
	}
	if strings.ContainsRune(ref, os.PathSeparator) {
		return nil, "", fmt.Errorf("%s: no such run directory or archive", ref)
	}
	dir := filepath.Join(runsDir, ref)
	if f, err := results.Read(filepath.Join(dir, "results.json")); err == nil {
		return f, dir, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if zips, _ := filepath.Glob(filepath.Join(runsDir, archiveDirName, "*", ref+".zip")); len(zips) > 0 {
		f, err := readArchive(zips[len(zips)-1])
		return f, zips[len(zips)-1], err
	}
	return nil, "", fmt.Errorf("no run %s in %s (give a run directory, an archive, or the id of a run in --runs-dir)", ref, runsDir)
}

// readArchive reads results.json out of a run's archive.
func readArchive(name string) (*results.File, error) {
	z, err := zip.OpenReader(name)
	if err != nil {
		return nil, err
	}
	defer z.Close()
	for _, e := range z.File {
		if path.Base(e.Name) != "results.json" || strings.Count(strings.Trim(e.Name, "/"), "/") != 1 {
			continue
		}
		r, err := e.Open()
		if err != nil {
			return nil, err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		var f results.File
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, e.Name, err)
		}
		return &f, nil
	}
	return nil, fmt.Errorf("%s has no results.json (not an archive of a finished run)", name)
}

// archiveDirName is the directory of archives under the runs directory.
const archiveDirName = "archive"
