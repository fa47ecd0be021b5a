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
