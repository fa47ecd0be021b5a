package jobfile_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/jobfile"
)

// TestSensitiveValues: the values a run must mask are the sensitive
// variables' (each string and number in them) and what args compute from
// them, directly, through a local, in an args block and in an arg that
// waits for another task's output; not the other args, nor true/false.
func TestSensitiveValues(t *testing.T) {
	t.Parallel()
	src := `
variable "password" {
  type      = string
  sensitive = true
}
variable "keys" {
  type      = object({ a = string, pin = number, on = bool })
  sensitive = true
  default   = { a = "key-aaaa", pin = 123456, on = true }
}
variable "pin" {
  type      = string
  sensitive = true
  default   = "12"
}
variable "user" { default = "admin" }
locals {
  auth = strrev("${var.user}:${var.password}")
}
job "s" {}
pack "p" { path = "p" }
task "a" {
  pack = "p"
  task = "t"
  args = { auth = local.auth, user = var.user, list = [upper(var.password), "plain"] }
}
task "b" {
  pack = "p"
  task = "t"
  args {
    token = "Bearer ${var.keys.a}"
    other = "not secret"
  }
}
task "c" {
  pack = "p"
  task = "t"
  args = { url = "https://${task.a.output.host}/?k=${strrev(var.password)}", host = task.a.output.host }
}
`
	job, diags := jobfile.LoadSource("s.hcl", []byte(src), map[string]string{"password": "hunter2"})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := []string{
		"12", "123456", "2retnuh:nimda", "Bearer key-aaaa", "HUNTER2", "hunter2", "key-aaaa",
	}
	if diff := cmp.Diff(want, job.SensitiveValues()); diff != "" {
		t.Errorf("SensitiveValues (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pin"}, job.ShortSensitive(4)); diff != "" {
		t.Errorf("ShortSensitive (-want +got):\n%s", diff)
	}

	c := job.Task("c")
	vals, err := c.EvalDeferred(func(string) map[string]cty.Value {
		return map[string]cty.Value{"host": cty.StringVal("r1.lab")}
	})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://r1.lab/?k=2retnuh"
	if vals["url"].AsString() != url {
		t.Fatalf("url = %#v", vals["url"])
	}
	if diff := cmp.Diff([]string{url}, c.SensitiveValues()); diff != "" {
		t.Errorf("Task.SensitiveValues after EvalDeferred (-want +got):\n%s", diff)
	}
}
