package jobfile_test

import (
	"testing"

	"github.com/taskhost/taskhost/host/jobfile"
)

func TestJobArchive(t *testing.T) {
	for src, want := range map[string]bool{
		`job "a" { archive = true }`:  true,
		`job "a" { archive = false }`: false,
		`job "a" {}`:                  false,
	} {
		job, diags := jobfile.LoadSource("job.hcl", []byte(src), nil)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", src, diags.Error())
		}
		if job.Archive != want {
			t.Errorf("%s: Archive = %v, want %v", src, job.Archive, want)
		}
	}
}
