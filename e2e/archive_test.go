package e2e

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --archive and the jobfile's archive = true zip the run directory into
// RUNS/archive/YY-MM/RUN.zip; results list shows the runs and results show
// prints one, from its directory or its archive.
func TestArchiveAndResultsCommands(t *testing.T) {
	path := job(t, mixedJob)
	r := taskhost(t, "run", "--archive", path)
	if r.code != 1 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	dir := r.runDir(t)
	zips, _ := filepath.Glob(filepath.Join(r.runsDir, "archive", "*", f.Report.ID+".zip"))
	if len(zips) != 1 {
		t.Fatalf("no archive of %s under %s/archive/YY-MM:\n%s", f.Report.ID, r.runsDir, r.stdout)
	}
	if month := filepath.Base(filepath.Dir(zips[0])); month != f.Report.StartTime.Local().Format("06-01") {
		t.Errorf("archive in %s, want the run's YY-MM", month)
	}
	if !strings.Contains(r.stdout, "Archive: "+zips[0]) {
		t.Errorf("the run does not say where its archive is:\n%s", r.stdout)
	}
	z, err := zip.OpenReader(zips[0])
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, e := range z.File {
		in[e.Name] = true
	}
	z.Close()
	for _, want := range []string{"results.json", "junit.xml", "report.html", "job.log", "jobfile.hcl", "tasks/checks/task.log"} {
		if !in[f.Report.ID+"/"+want] {
			t.Errorf("archive lacks %s", want)
		}
	}

	// results show, from the directory, then from the archive alone.
	show := taskhost(t, "results", "show", dir)
	if show.code != 0 || !strings.Contains(show.stdout, "checks  FAILED") || !strings.Contains(show.stdout, "Job mixed: ERRORED") {
		t.Errorf("results show DIR: exit %d\n%s%s", show.code, show.stdout, show.stderr)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, ref := range [][]string{{zips[0]}, {"--runs-dir", r.runsDir, f.Report.ID}} {
		show := taskhost(t, append([]string{"results", "show"}, ref...)...)
		if show.code != 0 || !strings.Contains(show.stdout, "after   BLOCKED") || !strings.Contains(show.stdout, "from "+zips[0]) {
			t.Errorf("results show %v: exit %d\n%s%s", ref, show.code, show.stdout, show.stderr)
		}
	}

	// The jobfile's archive = true does the same, without the flag; a
	// second run in the same runs directory is listed with the first.
	path2 := job(t, `
job "archived" { archive = true }
task "a" {
  pack = "testpack"
  task = "pass"
}
`)
	r2 := taskhost(t, "run", "--runs-dir", r.runsDir, path2)
	if r2.code != 0 || !strings.Contains(r2.stdout, "Archive: "+filepath.Join(r.runsDir, "archive")) {
		t.Fatalf("archive = true: exit %d\n%s%s", r2.code, r2.stdout, r2.stderr)
	}
	list := taskhost(t, "results", "list", "--runs-dir", r.runsDir)
	if list.code != 0 {
		t.Fatalf("results list: exit %d\n%s", list.code, list.stderr)
	}
	lines := strings.Split(strings.TrimSpace(list.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RUN ") {
		t.Fatalf("results list: want a header and two runs:\n%s", list.stdout)
	}
	if !strings.HasPrefix(lines[1], f.Report.ID+" ") || !strings.Contains(lines[1], "ERRORED") || !strings.Contains(lines[1], zips[0]) {
		t.Errorf("first run's line: %q", lines[1])
	}
	if !strings.HasPrefix(lines[2], "archived.") || !strings.Contains(lines[2], "PASSED") {
		t.Errorf("second run's line: %q", lines[2])
	}

	// A run that is not there is a usage error.
	if bad := taskhost(t, "results", "show", "--runs-dir", r.runsDir, "nope"); bad.code != 2 || !strings.Contains(bad.stderr, "no run nope") {
		t.Errorf("results show nope: exit %d %s", bad.code, bad.stderr)
	}
}
