package jobfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/taskhost/taskhost/host/jobfile"
)

func FuzzLoadSource(f *testing.F) {
	seeds, err := filepath.Glob("testdata/bad/*.hcl")
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range append(seeds, "testdata/good.hcl") {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	// good.hcl needs -var mode=..., so also seed a jobfile that loads as is.
	f.Add([]byte(`variable "n" {
  type    = number
  default = 2
}
job "j" {
  max_parallel = var.n
}
pack "p" {
  path = "p"
}
task "a" {
  pack = "p"
  task = "a"
}
task "b" {
  pack       = "p"
  task       = format("%s-%d", "b", var.n)
  args       = { x = [var.n], y = merge({ a = 1 }, { b = "2" }) }
  depends_on = [task.a]
  timeout    = "1s"
}
`))

	f.Fuzz(func(t *testing.T, src []byte) {
		job, diags := jobfile.LoadSource("fuzz.hcl", src, nil)
		if (job == nil) != diags.HasErrors() {
			t.Fatalf("got job %v with diagnostics %v", job, diags)
		}
	})
}
