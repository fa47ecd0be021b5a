package jobfile_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

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

	// Each input is loaded with small work and task limits
	// (LoadSourceSmall), so that it takes milliseconds, however hostile:
	// the seeds in testdata/fuzz/FuzzLoadSource are the shapes that once
	// crashed or hung the loader (nesting, chains, counts, nested for,
	// huge numbers, long locals chains, random bytes).
	f.Fuzz(func(t *testing.T, src []byte) {
		type result struct {
			job   *jobfile.Job
			diags hcl.Diagnostics
		}
		done := make(chan result, 1)
		go func() {
			job, diags := jobfile.LoadSourceSmall("fuzz.hcl", src)
			done <- result{job, diags}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("the load did not end within 10 s")
		}
		if (r.job == nil) != r.diags.HasErrors() {
			t.Fatalf("got job %v with diagnostics %v", r.job, r.diags)
		}
		if len(r.diags) > jobfile.MaxDiagnostics+1 {
			t.Fatalf("%d diagnostics, want at most %d", len(r.diags), jobfile.MaxDiagnostics+1)
		}
		var out bytes.Buffer
		if err := jobfile.WriteDiagnostics(&out, map[string][]byte{"fuzz.hcl": src}, r.diags); err != nil {
			t.Fatal(err)
		}
		if out.Len() > (jobfile.MaxDiagnostics+1)*16<<10 {
			t.Fatalf("%d bytes of diagnostics", out.Len())
		}
	})
}
