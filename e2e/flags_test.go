package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/results"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/result"
)

func TestVersionNamesHostSDKAndProtocols(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "version")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var protos []string
	for _, v := range protocol.Versions {
		protos = append(protos, fmt.Sprint(v))
	}
	for _, want := range []string{"taskhost ", "SDK " + sdk.Version, "pack protocol versions " + strings.Join(protos, ", ")} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("taskhost version does not say %q:\n%s", want, r.stdout)
		}
	}
}

// serialJob is a jobfile whose tasks run one at a time, in this order:
// the outcome of each is in its name.
const serialJob = `
job "serial" { max_parallel = 1 }
task "fail1" {
  pack = "testpack"
  task = "fail"
}
task "pass1" {
  pack = "testpack"
  task = "pass"
}
task "fail2" {
  pack = "testpack"
  task = "fail"
}
task "pass2" {
  pack = "testpack"
  task = "pass"
}
`

func TestFailFastStopsStartingTasks(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"-x", "--fail-fast", "--max-fail=1"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			r := taskhost(t, "run", flag, job(t, serialJob))
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			f := r.results(t)
			wantResults(t, f, map[string]result.Result{"fail1": result.Failed, "pass1": result.Blocked, "fail2": result.Blocked, "pass2": result.Blocked})
			reason := taskByID(t, f, "pass1").Result.Reason
			for _, want := range []string{"not started", "fail1", "Failed"} {
				if !strings.Contains(reason, want) {
					t.Errorf("reason %q does not say %q", reason, want)
				}
			}
			if !strings.Contains(r.stdout, "pass2") || !strings.Contains(r.stdout, reason) {
				t.Errorf("the terminal lines do not say why pass2 did not run (%q):\n%s", reason, r.stdout)
			}
		})
	}
}

func TestMaxFailCountsTasksThatDidNotPass(t *testing.T) {
	t.Parallel()
	r := taskhost(t, "run", "--max-fail", "2", job(t, serialJob))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	f := r.results(t)
	wantResults(t, f, map[string]result.Result{"fail1": result.Failed, "pass1": result.Passed, "fail2": result.Failed, "pass2": result.Blocked})
	if reason := taskByID(t, f, "pass2").Result.Reason; !strings.Contains(reason, "--max-fail 2") {
		t.Errorf("reason %q does not name --max-fail 2", reason)
	}
	if r := taskhost(t, "run", "--max-fail", "-1", job(t, serialJob)); r.code != 2 || !strings.Contains(r.stderr, "--max-fail") {
		t.Errorf("--max-fail -1: exit %d, want 2 and a message naming the flag\n%s", r.code, r.stderr)
	}
}

func wantResults(t *testing.T, f *results.File, want map[string]result.Result) {
	t.Helper()
	for id, w := range want {
		if got := taskByID(t, f, id).Result.Value; got != w {
			t.Errorf("task %s ended %s, want %s (%s)", id, got, w, taskByID(t, f, id).Result.Reason)
		}
	}
}

// depJob has a task that depends on another, and a family of three.
const depJob = `
job "deps" {}
task "setup" {
  pack = "testpack"
  task = "pass"
}
task "check" {
  pack       = "testpack"
  task       = "pass"
  depends_on = [task.setup]
}
task "ping" {
  for_each = toset(["r1", "r2", "r3"])
  pack     = "testpack"
  task     = "pass"
}
`

// listed returns the task ids of a --list output.
func listed(out string) []string {
	var ids []string
	for _, line := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "testpack" {
			ids = append(ids, f[0])
		}
	}
	return ids
}

func TestSkipExcludesTasksAndTheirDependents(t *testing.T) {
	t.Parallel()
	path := job(t, depJob)
	for name, tc := range map[string]struct {
		args []string
		want []string
	}{
		"glob":           {[]string{"--skip", `*"r[12]"*`}, []string{"setup", "check", `ping["r3"]`}},
		"block name":     {[]string{"--skip", "ping"}, []string{"setup", "check"}},
		"repeated":       {[]string{"--skip", "check", "--skip", `ping["r1"]`}, []string{"setup", `ping["r2"]`, `ping["r3"]`}},
		"dependents too": {[]string{"--skip", "setup"}, []string{`ping["r1"]`, `ping["r2"]`, `ping["r3"]`}},
		"with --task":    {[]string{"--task", "ping", "--skip", `ping["r2"]`}, []string{`ping["r1"]`, `ping["r3"]`}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := taskhost(t, append(append([]string{"run", "--list"}, tc.args...), path)...)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if got := listed(r.stdout); !slices.Equal(got, tc.want) {
				t.Errorf("listed %q, want %q\n%s", got, tc.want, r.stdout)
			}
		})
	}
	r := taskhost(t, "run", "--list", "--skip", "setup", path)
	if !strings.Contains(r.stderr, "check") || !strings.Contains(r.stderr, "depends on") {
		t.Errorf("--skip setup does not say that check is skipped with it:\n%s", r.stderr)
	}
	r = taskhost(t, "run", "--skip", "nothing*", path)
	if r.code != 2 || !strings.Contains(r.stderr, "--skip") || !strings.Contains(r.stderr, "no task matches") {
		t.Errorf("--skip matching nothing: exit %d, want 2 and no task matches\n%s", r.code, r.stderr)
	}
	// A skipped task really does not run.
	r = taskhost(t, "run", "--skip", "setup", path)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var ran []string
	for _, task := range r.results(t).Report.Tasks {
		ran = append(ran, task.ID)
	}
	if want := []string{`ping["r1"]`, `ping["r2"]`, `ping["r3"]`}; !slices.Equal(ran, want) {
		t.Errorf("--skip setup ran %q, want %q", ran, want)
	}
}

func TestDidYouMeanForAMistypedTask(t *testing.T) {
	t.Parallel()
	path := job(t, depJob)
	for _, flag := range []string{"--task", "--skip"} {
		r := taskhost(t, "run", "--list", flag, "chek", path)
		if r.code != 2 || !strings.Contains(r.stderr, `Did you mean "check"?`) {
			t.Errorf("%s chek: exit %d, want 2 and a suggestion\n%s", flag, r.code, r.stderr)
		}
	}
	r := taskhost(t, "run", "--list", "--task", `ping["r4"]`, path)
	if r.code != 2 || !strings.Contains(r.stderr, `Did you mean "ping[\"r1\"]"?`) {
		t.Errorf(`--task ping["r4"]: exit %d, want 2 and a suggestion`+"\n%s", r.code, r.stderr)
	}
	for _, flag := range []string{"--debug", "--interactive"} {
		r := taskhost(t, "run", flag, "chek", path)
		if r.code != 2 || !strings.Contains(r.stderr, `Did you mean "check"?`) {
			t.Errorf("%s chek: exit %d, want 2 and a suggestion\n%s", flag, r.code, r.stderr)
		}
	}

	run := taskhost(t, "run", "--task", "setup", path)
	if run.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", run.code, run.stdout, run.stderr)
	}
	dir := run.runDir(t)
	r = taskhost(t, "logs", dir, "stup")
	if r.code != 2 || !strings.Contains(r.stderr, `Did you mean "setup"?`) {
		t.Errorf("logs RUN stup: exit %d, want 2 and a suggestion\n%s", r.code, r.stderr)
	}
	// A task of the jobfile that did not start has no logs, and is not
	// mistaken for a typo.
	r = taskhost(t, "logs", dir, "setup", "9.9")
	if r.code != 2 || strings.Contains(r.stderr, "Did you mean") {
		t.Errorf("logs RUN setup 9.9: exit %d\n%s", r.code, r.stderr)
	}
}

func TestDidYouMeanForAnUndefinedVariable(t *testing.T) {
	t.Parallel()
	path := job(t, `
job "vars" {}
variable "devices" { default = { r1 = { host = "10.0.0.1" } } }
locals {
  addresses = [for d in var.devices : d.host]
}
task "ping" {
  for_each = var.devcies
  pack     = "testpack"
  task     = "pass"
}
task "other" {
  for_each = var.devices
  pack     = "testpack"
  task     = "tree"
  args = {
    tree = [{ name = each.value.hots }]
    all  = local.adresses
  }
}
`)
	r := taskhost(t, "validate", path)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{`Did you mean "devices"?`, `Did you mean "host"?`, `Did you mean "addresses"?`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("no %s in:\n%s", want, r.stderr)
		}
	}
}

// complete asks taskhost for the completions of the last word of args,
// as a shell's completion script does, and returns them.
func complete(t *testing.T, args ...string) []string {
	t.Helper()
	r := taskhost(t, append([]string{"__complete"}, args...)...)
	if r.code != 0 {
		t.Fatalf("__complete %q: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasPrefix(line, ":") {
			name, _, _ := strings.Cut(line, "\t")
			out = append(out, name)
		}
	}
	return out
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if r := taskhost(t, "completion", shell); r.code != 0 || !strings.Contains(r.stdout, "__complete") {
			t.Errorf("completion %s: exit %d\n%s", shell, r.code, r.stderr)
		}
	}

	path := job(t, depJob)
	want := []string{"setup", "check", "ping", `ping["r1"]`, `ping["r2"]`, `ping["r3"]`}
	for _, flag := range []string{"--task", "--skip"} {
		if got := complete(t, "run", path, flag, ""); !slices.Equal(got, want) {
			t.Errorf("run JOB %s: completions %q, want %q", flag, got, want)
		}
	}
	if got := complete(t, "run", path, "--debug", ""); !slices.Equal(got, []string{"setup", "check", `ping["r1"]`, `ping["r2"]`, `ping["r3"]`}) {
		t.Errorf("run JOB --debug: completions %q, want the task ids", got)
	}
	if got := complete(t, "run", path, "--skip", "p"); !slices.Equal(got, []string{"ping", `ping["r1"]`, `ping["r2"]`, `ping["r3"]`}) {
		t.Errorf("run JOB --skip p: completions %q", got)
	}
	// The jobfile is read with the variables of the command line.
	sites := job(t, `
job "sites" {}
variable "sites" { type = string }
task "site" {
  for_each = toset(split(",", var.sites))
  pack     = "testpack"
  task     = "pass"
}
`)
	if got := complete(t, "run", "-var", "sites=a,b", sites, "--task", ""); !slices.Equal(got, []string{"site", `site["a"]`, `site["b"]`}) {
		t.Errorf("run -var sites=a,b JOB --task: completions %q", got)
	}

	// Run ids from --runs-dir, newest first.
	runs := t.TempDir()
	for _, id := range []string{"26-01-02_10-00-00", "26-01-03_10-00-00"} {
		if err := os.MkdirAll(filepath.Join(runs, id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(runs, id, "job.log"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantRuns := []string{"last", "26-01-03_10-00-00", "26-01-02_10-00-00"}
	for _, args := range [][]string{{"results", "show", "--runs-dir", runs, ""}, {"logs", "--runs-dir", runs, ""},
		{"report", "--runs-dir", runs, ""}, {"run", "--runs-dir", runs, "--rerun", ""}} {
		if got := complete(t, args...); !slices.Equal(got, wantRuns) {
			t.Errorf("%s: completions %q, want %q", args, got, wantRuns)
		}
	}
	if got := complete(t, "logs", "--runs-dir", runs, "26-01-02"); !slices.Equal(got, wantRuns[2:]) {
		t.Errorf("logs 26-01-02: completions %q, want %q", got, wantRuns[2:])
	}

	// Pack names from the packs directory.
	packsDir := t.TempDir()
	if r := taskhost(t, "packs", "install", "--packs-dir", packsDir, filepath.Join(bin, "testpack")); r.code != 0 {
		t.Fatalf("packs install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got := complete(t, "packs", "describe", "--packs-dir", packsDir, ""); !slices.Contains(got, "testpack") {
		t.Errorf("packs describe: completions %q, want testpack", got)
	}
	if got := complete(t, "packs", "remove", "--packs-dir", packsDir, "test"); len(got) != 1 || !strings.HasPrefix(got[0], "testpack@") {
		t.Errorf("packs remove: completions %q, want testpack@VERSION", got)
	}
}
