package archive

import (
	"archive/zip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskhost/taskhost/host/results"
)

func TestZipAndList(t *testing.T) {
	runs := t.TempDir()
	dir := filepath.Join(runs, "job.20261127-040000")
	os.MkdirAll(filepath.Join(dir, "tasks", "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "job.log"), []byte("log\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tasks", "a", "task.log"), []byte("task line\n"), 0o644)
	start := time.Date(2026, 11, 27, 4, 0, 0, 0, time.Local)
	f := &results.File{Version: 1, Report: results.Report{ID: filepath.Base(dir), Name: "job", StartTime: start}}
	if err := results.Write(filepath.Join(dir, "results.json"), f); err != nil {
		t.Fatal(err)
	}
	name := Path(filepath.Join(runs, DirName), dir, start)
	if want := filepath.Join(runs, "archive", "26-11", "job.20261127-040000.zip"); name != want {
		t.Fatalf("Path = %s, want %s", name, want)
	}
	if err := Zip(name, dir); err != nil {
		t.Fatal(err)
	}
	z, err := zip.OpenReader(name)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range z.File {
		got[e.Name] = true
	}
	z.Close()
	for _, want := range []string{"job.20261127-040000/job.log", "job.20261127-040000/results.json", "job.20261127-040000/tasks/a/task.log"} {
		if !got[want] {
			t.Errorf("archive lacks %s: %v", want, got)
		}
	}
	back, err := ReadResults(name)
	if err != nil || back.Report.ID != f.Report.ID {
		t.Fatalf("ReadResults: %v %+v", err, back)
	}

	// Listed once, with both places; an archive alone is listed too.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	list, err := List(runs, "")
	if err != nil || len(list) != 1 || list[0].Archive != name || list[0].Dir != "" || list[0].File == nil {
		t.Fatalf("List: %v %+v", err, list)
	}
}

// Extract makes only regular files and directories under the archive's
// top folder: an entry that would land elsewhere, or a link, is refused.
func TestExtractRefuses(t *testing.T) {
	t.Parallel()
	for name, entries := range map[string][]zip.FileHeader{
		"dotdot":   {{Name: "run/ok.txt"}, {Name: "run/../../evil.txt"}},
		"absolute": {{Name: "/etc/evil.txt"}},
		"two tops": {{Name: "run/a.txt"}, {Name: "other/b.txt"}},
		"link":     {{Name: "run/link"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			zname := filepath.Join(dir, "run.zip")
			f, err := os.Create(zname)
			if err != nil {
				t.Fatal(err)
			}
			z := zip.NewWriter(f)
			for _, h := range entries {
				h.Method = zip.Store
				if name == "link" {
					h.SetMode(os.ModeSymlink | 0o777)
				}
				w, err := z.CreateHeader(&h)
				if err != nil {
					t.Fatal(err)
				}
				w.Write([]byte("/etc/passwd"))
			}
			z.Close()
			f.Close()
			dest := filepath.Join(dir, "dest", "in")
			os.MkdirAll(dest, 0o755)
			if got, err := Extract(zname, dest); err == nil {
				t.Errorf("Extract made %s, want an error", got)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil.txt")); err == nil {
				t.Error("a file was written outside the destination")
			}
			if _, err := os.Lstat(filepath.Join(dest, "run", "link")); err == nil {
				t.Error("a link was made")
			}
		})
	}
}
