package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/sdk/result"
)

const outputsJob = `
variable "routers" {
  type = map(string)
}

variable "secret" {
  type      = string
  sensitive = true
  default   = "default-secret-value"
}

job "outputs" {}

task "setup" {
  pack = "testpack"
  task = "provide"
  args = { addr = "192.0.2.7", port = 830 }
}

task "check" {
  for_each = var.routers
  pack     = "testpack"
  task     = "consume"
  args = {
    device = each.key
    target = each.value
    addr   = task.setup.output.addr
    port   = task.setup.output.port
    secret = var.secret
  }
}

task "missing" {
  pack = "testpack"
  task = "consume"
  args = { device = "x", addr = task.setup.output.token }
}
`

// TestOutputsFeedArgs: the outputs of one task feed the args of two others,
// made by for_each over a variable map; a task reading an output that was
// not set ends Errored with the reason; outputs are in results.json; the
// sensitive variable reaches the task but not the records.
func TestOutputsFeedArgs(t *testing.T) {
	t.Parallel()
	path := job(t, outputsJob)
	varFile := filepath.Join(filepath.Dir(path), "routers.json")
	if err := os.WriteFile(varFile, []byte(`{"routers": {"r1": "10.0.0.1", "r2": "10.0.0.2"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := taskhostEnv(t, []string{"TASKHOST_CACHE_DIR=" + t.TempDir()},
		"run", path, "-var-file", varFile, "-var", "secret=hunter2")
	if r.code != 1 {
		t.Fatalf("exit code %d, want 1 (missing errors)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)

	setup := taskByID(t, f, "setup")
	wantOut := map[string]string{"addr": `"192.0.2.7"`, "port": `830`}
	gotOut := map[string]string{}
	for k, v := range setup.Outputs {
		gotOut[k] = string(v)
	}
	if diff := cmp.Diff(wantOut, gotOut); diff != "" {
		t.Errorf("setup outputs in results.json (-want +got):\n%s", diff)
	}
	for key, target := range map[string]string{"r1": "10.0.0.1", "r2": "10.0.0.2"} {
		c := taskByID(t, f, `check["`+key+`"]`)
		if c.Result.Value != result.Passed {
			t.Errorf("%s: %v (%s), want passed", c.ID, c.Result.Value, c.Result.Reason)
		}
		var seen string
		if err := json.Unmarshal(c.Outputs["seen"], &seen); err != nil {
			t.Fatalf("%s outputs %v: %v", c.ID, c.Outputs, err)
		}
		if want := key + "(" + target + ") via 192.0.2.7:830"; seen != want {
			t.Errorf("%s saw %q, want %q", c.ID, seen, want)
		}
		if !c.StartTime.After(setup.StopTime) && !c.StartTime.Equal(setup.StopTime) {
			t.Errorf("%s started at %v, before setup ended at %v", c.ID, c.StartTime, setup.StopTime)
		}
	}
	missing := taskByID(t, f, "missing")
	if missing.Result.Value != result.Errored || !strings.Contains(missing.Result.Reason, `task setup did not set the output "token"`) {
		t.Errorf("missing: %v (%s), want errored because token was not set", missing.Result.Value, missing.Result.Reason)
	}

	// The secret was given, and used, but is recorded nowhere.
	dir := r.runDir(t)
	for _, name := range []string{"results.json", "jobfile.hcl", "job.log"} {
		b := mustRead(t, filepath.Join(dir, name))
		for _, secret := range []string{"hunter2", "default-secret-value"} {
			if strings.Contains(b, secret) {
				t.Errorf("%s holds the sensitive value %q", name, secret)
			}
		}
	}
	// Nor anywhere else in the run directory: the hub's store included.
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte("hunter2")) || bytes.Contains(b, []byte("default-secret-value")) {
			t.Errorf("%s holds the sensitive value", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(mustRead(t, filepath.Join(dir, "results.json")), `"secret": "(sensitive)"`) {
		t.Errorf("results.json does not show the sensitive variable as (sensitive)")
	}
	if strings.Contains(r.stdout+r.stderr, "hunter2") {
		t.Errorf("the terminal output shows the secret")
	}
}

func TestOutputDiagnostics(t *testing.T) {
	t.Parallel()
	path := job(t, `
job "bad" {}

task "setup" {
  pack = "testpack"
  task = "provide"
  args = { addr = "a" }
}

task "use" {
  pack = "testpack"
  task = "consume"
  args = { device = "d", addr = task.setup.output.adr }
}
`)
	r := taskhostEnv(t, []string{"TASKHOST_CACHE_DIR=off"}, "validate", path)
	if r.code != 2 {
		t.Fatalf("exit code %d, want 2\nstderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Error: Unknown output",
		"job.hcl:17:33",
		`declares no output "adr". Did you mean "addr"?`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

func TestSelectAndList(t *testing.T) {
	t.Parallel()
	path := job(t, `
job "sel" {}

task "setup" {
  pack = "testpack"
  task = "pass"
}

task "ping" {
  for_each   = toset(["r1", "r2", "r3"])
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.setup]
}

task "other" {
  pack = "testpack"
  task = "pass"
}
`)
	r := taskhost(t, "run", path, "--list")
	if r.code != 0 {
		t.Fatalf("--list: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{`ping["r2"]  testpack`, "setup", "other", "5 tasks"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--list output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(r.runsDir); err == nil {
		t.Errorf("--list made a run directory")
	}

	r = taskhost(t, "run", path, "--task", "ping*", "--list")
	if !strings.Contains(r.stdout, "setup") || strings.Contains(r.stdout, "other") || !strings.Contains(r.stdout, "4 tasks") {
		t.Errorf("--task ping* --list: want the pings and setup only:\n%s", r.stdout)
	}

	r = taskhost(t, "run", path, "--task", `ping["r2"]`)
	if r.code != 0 {
		t.Fatalf("--task: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var ids []string
	for _, task := range r.results(t).Report.Tasks {
		ids = append(ids, task.ID)
	}
	if diff := cmp.Diff([]string{"setup", `ping["r2"]`}, ids); diff != "" {
		t.Errorf("tasks run (-want +got):\n%s", diff)
	}

	r = taskhost(t, "run", path, "--task", "nothing*")
	if r.code != 2 || !strings.Contains(r.stderr, "no task matches") {
		t.Errorf("--task matching nothing: exit %d, stderr %s", r.code, r.stderr)
	}
}

// TestSchemaCache: validate stores each pack's description under the
// binary's hash, and uses it instead of starting the pack.
func TestSchemaCache(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	dir := t.TempDir()
	// A copy of testpack, so that the test can change the binary.
	pack := filepath.Join(dir, "pack")
	b, err := os.ReadFile(filepath.Join(bin, "testpack"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pack, b, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "job.hcl")
	src := `job "c" {}
pack "p" { path = "pack" }
task "a" {
  pack = "p"
  task = "provide"
  args = { addr = "x" }
}
`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"TASKHOST_CACHE_DIR=" + cache}
	if r := taskhostEnv(t, env, "validate", path); r.code != 0 {
		t.Fatalf("validate: %d\n%s", r.code, r.stderr)
	}
	entries, _ := filepath.Glob(filepath.Join(cache, "pack-v1-*.pb"))
	if len(entries) != 1 {
		t.Fatalf("cache holds %v, want one entry", entries)
	}
	// The cached description answers for the binary: a binary that
	// cannot start, with the same hash, still validates...
	entry, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	script := []byte("#!/bin/sh\nexit 3\n")
	if err := os.WriteFile(pack, script, 0o755); err != nil {
		t.Fatal(err)
	}
	if r := taskhostEnv(t, env, "validate", path); r.code != 2 || !strings.Contains(r.stderr, "Pack cannot be started") {
		t.Fatalf("a changed binary was not started again: exit %d\n%s", r.code, r.stderr)
	}
	// ...when the cache holds its description under its hash.
	scriptEntry := filepath.Join(cache, "pack-v1-"+sha256OfBytes(script)+"-pack.pb")
	if err := os.WriteFile(scriptEntry, entry, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := taskhostEnv(t, env, "validate", path); r.code != 0 {
		t.Fatalf("validate with the description cached: exit %d\n%s", r.code, r.stderr)
	}
}

func TestFmt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ugly := "job \"x\" {\n      max_parallel=2\n  timeout = \"1m\"\n}\ntask \"a\" {\npack=\"p\"\n  task =   \"t\"\n}\n"
	pretty := "job \"x\" {\n  max_parallel = 2\n  timeout      = \"1m\"\n}\ntask \"a\" {\n  pack = \"p\"\n  task = \"t\"\n}\n"
	path := filepath.Join(dir, "a.hcl")
	if err := os.WriteFile(path, []byte(ugly), 0o600); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "b.hcl")
	if err := os.WriteFile(good, []byte(pretty), 0o644); err != nil {
		t.Fatal(err)
	}

	r := taskhost(t, "fmt", "-check", dir)
	if r.code != 1 || strings.TrimSpace(r.stdout) != path || !strings.Contains(r.stderr, "1 file(s) not in canonical form") {
		t.Fatalf("fmt -check: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := mustRead(t, path); got != ugly {
		t.Fatalf("fmt -check changed the file:\n%s", got)
	}
	if r := taskhost(t, "fmt", path, good); r.code != 0 || strings.TrimSpace(r.stdout) != path {
		t.Fatalf("fmt: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := mustRead(t, path); got != pretty {
		t.Errorf("fmt wrote:\n%s\nwant:\n%s", got, pretty)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("fmt changed the mode to %v", st.Mode().Perm())
	}
	if r := taskhost(t, "fmt", "--check", dir); r.code != 0 || r.stdout != "" {
		t.Errorf("fmt -check after fmt: exit %d, stdout %q", r.code, r.stdout)
	}

	broken := filepath.Join(dir, "c.hcl")
	if err := os.WriteFile(broken, []byte("job \"x\" {\n  a = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = taskhost(t, "fmt", broken)
	if r.code != 2 || !strings.Contains(r.stderr, "c.hcl:2") {
		t.Errorf("fmt of a broken file: exit %d, stderr %s", r.code, r.stderr)
	}
	if got := mustRead(t, broken); got != "job \"x\" {\n  a = \n" {
		t.Errorf("fmt changed a broken file")
	}
}

// TestVariableSources: -var over -var-file over TASKHOST_VAR_x over the
// default, as results.json records them; a failed validation stops the run.
func TestVariableSources(t *testing.T) {
	t.Parallel()
	path := job(t, `
variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "d" { default = "default" }
variable "n" {
  type    = number
  default = 1
  validation {
    condition     = var.n < 10
    error_message = "n must be under 10."
  }
}
job "vars" {}
task "t" {
  pack = "testpack"
  task = "pass"
}
`)
	hclFile := filepath.Join(filepath.Dir(path), "v.hcl")
	if err := os.WriteFile(hclFile, []byte("a = \"file\"\nb = \"file\"\nn = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"TASKHOST_VAR_a=env", "TASKHOST_VAR_b=env", "TASKHOST_VAR_c=env"}
	r := taskhostEnv(t, env, "run", path, "-var-file", hclFile, "-var", "a=flag")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	got := map[string]string{}
	for k, v := range r.results(t).Report.Variables {
		b, _ := json.Marshal(v)
		got[k] = string(b)
	}
	want := map[string]string{"a": `"flag"`, "b": `"file"`, "c": `"env"`, "d": `"default"`, "n": `3`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}

	r = taskhostEnv(t, []string{"TASKHOST_VAR_n=12"}, "validate", path)
	if r.code != 2 || !strings.Contains(r.stderr, "var.n: n must be under 10.") {
		t.Errorf("failed validation: exit %d\n%s", r.code, r.stderr)
	}
}
