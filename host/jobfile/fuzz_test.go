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

	// And one using locals, functions, expansion, args blocks with dynamic
	// blocks, and outputs.
	f.Add([]byte(`variable "devs" {
  type    = map(string)
  default = { r1 = "a", r2 = "b" }
  validation {
    condition     = length(var.devs) > 0
    error_message = "none"
  }
}
variable "pw" {
  default   = "x"
  sensitive = true
}
locals {
  names = sort(keys(var.devs))
  n     = try(tonumber("z"), length(local.names))
}
job "j" {}
pack "p" { path = "p" }
task "s" {
  pack = "p"
  task = "s"
  args = { pw = var.pw }
}
task "c" {
  for_each = var.devs
  pack     = "p"
  task     = "c"
  args     = { a = task.s.output.addr, d = each.value }
}
task "n" {
  count      = local.n
  pack       = "p"
  task       = "n"
  depends_on = [task.c[local.names[0]], task.c]
  args {
    dynamic "t" {
      for_each = local.names
      content {
        name = t.value
      }
    }
  }
}
`))

	f.Fuzz(func(t *testing.T, src []byte) {
		job, diags := jobfile.LoadSource("fuzz.hcl", src, nil)
		if (job == nil) != diags.HasErrors() {
			t.Fatalf("got job %v with diagnostics %v", job, diags)
		}
	})
}
