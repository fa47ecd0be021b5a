package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/taskhost/taskhost/sdk/result"
)

// The two secrets of secretsJob, and what each is known by in any
// encoding (JSON, HTML, XML and Go escape only the characters around it).
const (
	secretPassword = `s3cr3t-<pa"ss>&`
	secretToken    = "tok3n-9f8e7d"
)

var secretCores = []string{"s3cr3t", "tok3n"}

const secretsJob = `
variable "password" {
  type      = string
  sensitive = true
}
variable "token" {
  type      = string
  sensitive = true
}
job "secrets" {}

task "leak" {
  pack = "testpack"
  task = "leak"
  args = { secret = var.password }
}
task "leak_token" {
  pack = "testpack"
  task = "leak"
  args = { secret = "Bearer ${var.token}" }
}
task "exec" {
  pack = "exec"
  task = "run"
  args = {
    command       = "sh"
    args          = ["-c", "echo \"got $1\"; printf %s \"$1\" | sha256sum", "sh", var.password]
    expect_output = "PASSWORD_SHA256"
  }
}
task "environ" {
  pack = "testpack"
  task = "environ"
}
`

// TestSecretsMasked: a sensitive variable given in the environment
// (TASKHOST_VAR_password) and one given with -var, used by an exec task
// and by a task that puts its secret in its log, a raw write to stderr, a
// child's output, a step's name, reason and data, its own reason and an
// output, appear nowhere in the run directory (results.json, junit.xml,
// report.html and the logs it embeds, job.log, task.log, the children's
// logs, the hub's store), the terminal, or run --json; "(sensitive)" is
// there instead, the step ranges still point at their lines, and the exec
// task got the value. A task that does not take a variable sees no
// TASKHOST_VAR_* in its environment or its child's.
func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte(secretPassword))
	path := job(t, strings.Replace(secretsJob, "PASSWORD_SHA256", hex.EncodeToString(sum[:]), 1))
	env := []string{"TASKHOST_VAR_password=" + secretPassword, "TASKHOST_VAR_undeclared=x", "TASKHOST_TEST_MARKER=1"}
	for _, mode := range []string{"terminal", "json"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			args := []string{"run", path, "-var", "token=" + secretToken}
			if mode == "json" {
				args = append(args, "--json")
			}
			r := taskhostEnv(t, env, args...)
			if r.code != 1 {
				t.Fatalf("exit code %d, want 1 (the leak tasks fail)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
			}
			for _, core := range secretCores {
				if strings.Contains(r.stdout+r.stderr, core) {
					t.Errorf("the %s output shows %q:\nstdout:\n%s\nstderr:\n%s", mode, core, r.stdout, r.stderr)
				}
			}
			if mode == "json" && !strings.Contains(r.stdout, `"name":"login as (sensitive)"`) {
				t.Errorf("run --json lacks the masked step name:\n%s", r.stdout)
			}
			dir := r.runDir(t)
			checkNoSecret(t, dir)
			f := r.results(t)

			leak := taskByID(t, f, "leak")
			if leak.Result.Value != result.Failed || leak.Result.Reason != "could not log in with (sensitive)" {
				t.Errorf("leak: %v %q", leak.Result.Value, leak.Result.Reason)
			}
			if got := string(leak.Outputs["echo"]); got != `"(sensitive)"` {
				t.Errorf("leak's output echo = %s", got)
			}
			login := leak.Sections[2]
			if login.Name != "login as (sensitive)" || login.Result.Reason != "password (sensitive) refused" {
				t.Errorf("login step: %q, %q", login.Name, login.Result.Reason)
			}
			var loginData any
			if err := json.Unmarshal(login.Result.Data, &loginData); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"(sensitive)": []any{"x(sensitive)y"}, "token": "(sensitive)"}
			if diff := cmp.Diff(want, loginData); diff != "" {
				t.Errorf("login step data (-want +got):\n%s", diff)
			}
			if lt := taskByID(t, f, "leak_token"); lt.Sections[2].Name != "login as (sensitive)" {
				t.Errorf("leak_token's login step: %q", lt.Sections[2].Name)
			}

			// The task's log had the secret written past the SDK: it is
			// masked in place, and the next step's range still holds its line.
			tlog := mustRead(t, filepath.Join(dir, "tasks", "leak", "task.log"))
			for _, want := range []string{"logged: the secret is (sensitive)", "printed: the secret is (sensitive)"} {
				if !strings.Contains(tlog, want) {
					t.Errorf("task.log lacks %q:\n%s", want, tlog)
				}
			}
			after := leak.Sections[1].Logs
			if after == nil || !strings.Contains(tlog[after.Begin:after.Begin+after.Size], "the line of the step after") {
				t.Errorf("the range of step 2 (%+v) does not hold its line:\n%s", after, tlog)
			}
			// The SDK masked what it logged itself: the host had to mask
			// only the raw write in leak's task.log, and nothing in exec's.
			jlog := mustRead(t, filepath.Join(dir, "job.log"))
			if !strings.Contains(jlog, "file=tasks/leak/task.log count=1") || strings.Contains(jlog, "file=tasks/exec/task.log") {
				t.Errorf("job.log does not show the host masking leak's task.log once and exec's never:\n%s", jlog)
			}
			if len(leak.Logs) != 1 || !strings.Contains(mustRead(t, filepath.Join(dir, leak.Logs[0])), "child: the secret is (sensitive)") {
				t.Errorf("the child's log %v is not there masked", leak.Logs)
			}

			ex := taskByID(t, f, "exec")
			if ex.Result.Value != result.Passed || ex.Sections[0].Name != "run sh" {
				t.Errorf("exec: %v (%s), first step %q: want passed, step \"run sh\"", ex.Result.Value, ex.Result.Reason, ex.Sections[0].Name)
			}
			if elog := mustRead(t, filepath.Join(dir, "tasks", "exec", "task.log")); !strings.Contains(elog, `"sh" "(sensitive)"]`) || !strings.Contains(elog, "got (sensitive)") {
				t.Errorf("exec's log does not show the masked command and output:\n%s", elog)
			}

			var data map[string]json.RawMessage
			envData := taskByID(t, f, "environ").Sections[0].Result.Data
			if err := json.Unmarshal(envData, &data); err != nil {
				t.Fatal(err)
			}
			var seen struct{ Own, Child []string }
			_ = json.Unmarshal(data["own"], &seen.Own)
			_ = json.Unmarshal(data["child"], &seen.Child)
			if diff := cmp.Diff([]string{}, seen.Own); diff != "" {
				t.Errorf("the task's own TASKHOST_VAR_* (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{}, seen.Child); diff != "" {
				t.Errorf("its child's TASKHOST_VAR_* (-want +got):\n%s", diff)
			}
			if string(data["own_marker"]) != "true" || string(data["child_marker"]) != "true" {
				t.Errorf("the rest of the environment did not reach the task and its child: %s", envData)
			}
		})
	}
}

var b64Attr = regexp.MustCompile(`data-b64="([^"]*)"`)

// checkNoSecret reads every file under dir byte by byte (and the logs
// that report.html holds in base64) for the secrets.
func checkNoSecret(t *testing.T, dir string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		texts := [][]byte{b}
		if filepath.Base(p) == "report.html" {
			for _, m := range b64Attr.FindAllSubmatch(b, -1) {
				dec, err := base64.StdEncoding.DecodeString(string(m[1]))
				if err != nil {
					t.Errorf("report.html: bad base64: %v", err)
				}
				texts = append(texts, dec)
			}
		}
		for _, text := range texts {
			for _, core := range secretCores {
				if i := bytes.Index(text, []byte(core)); i >= 0 {
					t.Errorf("%s holds %q: …%s…", p, core, text[max(0, i-60):min(len(text), i+60)])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"results.json", "junit.xml", "report.html", "job.log", "jobfile.hcl"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("run directory lacks %s", want)
		}
	}
	if n < 10 {
		t.Errorf("only %d files read in %s", n, dir)
	}
}

// TestVarFileFromStdin: -var-file - reads the variables from standard
// input, HCL or JSON; the value reaches the task and no command line.
func TestVarFileFromStdin(t *testing.T) {
	t.Parallel()
	path := job(t, `
variable "password" {
  type      = string
  sensitive = true
}
job "stdin" {}
task "c" {
  pack = "testpack"
  task = "consume"
  args = { device = "d", addr = "a", secret = var.password }
}
`)
	for name, input := range map[string]string{
		"hcl":  "password = \"hunter2\"\n",
		"json": `  {"password": "hunter2"}`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runs := filepath.Join(t.TempDir(), "runs")
			cmd := exec.Command(filepath.Join(bin, "taskhost"), "run", "--runs-dir", runs, path, "-var-file", "-")
			cmd.Stdin = strings.NewReader(input)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			r := runResult{runsDir: runs}
			if c := taskByID(t, r.results(t), "c"); c.Result.Value != result.Passed {
				t.Errorf("c: %v (%s): the value did not arrive", c.Result.Value, c.Result.Reason)
			}
		})
	}
	r := taskhost(t, "validate", path, "-var-file", "-", "--var-file=-")
	if r.code != 2 || !strings.Contains(r.stderr, "more than once") {
		t.Errorf("two -var-file -: exit %d\n%s", r.code, r.stderr)
	}
	// A var file of mode 0600 is read as any other.
	vf := filepath.Join(t.TempDir(), "secret.tfvars")
	if err := os.WriteFile(vf, []byte(`password = "hunter2"`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := taskhost(t, "run", path, "-var-file", vf); r.code != 0 {
		t.Errorf("-var-file of a 0600 file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
