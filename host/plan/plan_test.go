package plan

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/packwire"
	"github.com/taskhost/taskhost/internal/testbuild"
	"github.com/taskhost/taskhost/sdk/result"
)

// Pack binaries built once for the package's tests.
var hookpack, badpack, badhook, v1pack string

func TestMain(m *testing.M) {
	testbuild.Main(m, map[*string]string{&hookpack: "../../internal/testpack/hookpack", &badpack: "./testdata/badpack", &v1pack: "../../sdk/internal/packserver/testdata/v1pack"}, func(dir string) error {
		// The same program under another name: its hook is the bad one.
		badhook = filepath.Join(dir, "badhook")
		if err := os.Link(badpack, badhook); err != nil {
			return err
		}
		// Every test's cache is this package's own.
		return os.Setenv(CacheDirEnv, filepath.Join(dir, "cache"))
	})
}

// ctyEqual lets cmp compare argument types.
var ctyEqual = cmp.Comparer(func(a, b cty.Type) bool { return a.Equals(b) })

func writeJob(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "job.hcl")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// copyBinary copies a pack binary to a directory of the test's own, so
// that the test has a cache entry of its own (the entry names the binary).
func copyBinary(t *testing.T, from, name string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return to
}

func summaries(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		fmt.Fprintf(&b, "%s: %s: %s\n", map[hcl.DiagnosticSeverity]string{hcl.DiagError: "error", hcl.DiagWarning: "warning"}[d.Severity], d.Summary, d.Detail)
	}
	return b.String()
}

// TestDescribe: the one describe reads what the pack says of itself into
// the host's Description: tasks, hooks with their stages, argument types.
func TestDescribe(t *testing.T) {
	t.Parallel()
	d, err := launch.Describe(context.Background(), launch.Config{Path: hookpack})
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "hookpack" || d.Version != "1.0.0" || len(d.ProtocolVersions) == 0 {
		t.Errorf("pack: %s %s %v", d.Name, d.Version, d.ProtocolVersions)
	}
	if d.Task("pass") == nil || d.Task("nosuch") != nil {
		t.Errorf("tasks: %+v", d.Tasks)
	}
	seed := d.Hook("seed")
	if seed == nil {
		t.Fatalf("no hook seed: %+v", d.Hooks)
	}
	if diff := cmp.Diff([]result.Stage{result.PreJob}, seed.Stages); diff != "" {
		t.Errorf("seed's stages (-want +got):\n%s", diff)
	}
	rec := d.Hook("record")
	if rec == nil {
		t.Fatalf("no hook record: %+v", d.Hooks)
	}
	if diff := cmp.Diff(result.Stages, rec.Stages); diff != "" {
		t.Errorf("record's stages (-want +got):\n%s", diff)
	}
	var label *packwire.ArgSpec
	for i := range rec.Args {
		if rec.Args[i].Name == "label" {
			label = &rec.Args[i]
		}
	}
	if label == nil || !label.Type.Equals(cty.String) {
		t.Errorf("record's args: %+v", rec.Args)
	}
}

// TestSchemaCache: the first plan of a binary describes it and fills the
// cache; the entry holds what the pack said; a plan of the same binary
// reads the entry and does not start the pack.
func TestSchemaCache(t *testing.T) {
	t.Parallel()
	bin := copyBinary(t, hookpack, "cachedpack")
	path := writeJob(t, fmt.Sprintf(`
job "j" {}
pack "p" { path = %q }
task "a" {
  pack = "p"
  task = "pass"
}
`, bin))
	p, diags := Make(context.Background(), path, Options{})
	if diags.HasErrors() {
		t.Fatal(summaries(diags))
	}
	sum, err := launch.HexSHA256(bin)
	if err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(SchemaCacheDir(), cacheEntryName(bin, sum))
	b, err := os.ReadFile(entry)
	if err != nil {
		t.Fatalf("no cache entry: %v", err)
	}
	cached, err := packwire.UnmarshalDescription(b)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := launch.Describe(context.Background(), launch.Config{Path: bin})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fresh, cached, ctyEqual); diff != "" {
		t.Errorf("cache entry (-described +cached):\n%s", diff)
	}
	if diff := cmp.Diff(fresh, p.Packs["p"], ctyEqual); diff != "" {
		t.Errorf("plan's description (-described +plan):\n%s", diff)
	}

	// A program that is no pack at all, but has an entry: the entry is
	// used, and the program is never started.
	script := filepath.Join(t.TempDir(), "notapack")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ssum, err := launch.HexSHA256(script)
	if err != nil {
		t.Fatal(err)
	}
	want := &packwire.Description{Name: "fromcache", Version: "9.9.9", ProtocolVersions: []int32{1},
		Tasks: []packwire.TaskSpec{{Name: "go", Args: []packwire.ArgSpec{{Name: "n", Type: cty.Number, Required: true}}}}}
	b, err = packwire.MarshalDescription(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(SchemaCacheDir(), filepath.Join(SchemaCacheDir(), cacheEntryName(script, ssum)), b); err != nil {
		t.Fatal(err)
	}
	path = writeJob(t, fmt.Sprintf(`
job "j" {}
pack "p" { path = %q }
task "a" {
  pack = "p"
  task = "go"
  args = { n = 3 }
}
`, script))
	p, diags = Make(context.Background(), path, Options{})
	if diags.HasErrors() {
		t.Fatal(summaries(diags))
	}
	if diff := cmp.Diff(want, p.Packs["p"], ctyEqual); diff != "" {
		t.Errorf("plan's description (-cached +plan):\n%s", diff)
	}
	if got := string(p.Args["a"]); got != `{"n":3}` {
		t.Errorf("args %s", got)
	}
}

// TestBadDescription: a pack whose argument types the host cannot read
// describes itself wrongly: an error on its pack block, for validate and
// for a run alike (not a pack that cannot be started, whose tasks alone
// would end Errored), and it leaves no cache entry.
func TestBadDescription(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		bin    string
		detail string
	}{
		"task argument": {badpack, `task t, argument n: bad type "nosuchtype"`},
		"hook argument": {badhook, `hook h, argument n: bad type "nosuchtype"`},
	}
	for name, tc := range tests {
		for _, forRun := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/forRun=%v", name, forRun), func(t *testing.T) {
				t.Parallel()
				path := writeJob(t, fmt.Sprintf(`
job "j" {}
pack "p" { path = %q }
task "a" {
  pack = "p"
  task = "t"
  args = { n = "x" }
}
`, tc.bin))
				p, diags := Make(context.Background(), path, Options{ForRun: forRun})
				if p != nil || !diags.HasErrors() {
					t.Fatalf("plan %v, diagnostics:\n%s", p, summaries(diags))
				}
				var found *hcl.Diagnostic
				for _, d := range diags {
					if d.Summary == "Pack describes itself wrongly" {
						found = d
					}
				}
				if found == nil || found.Severity != hcl.DiagError || found.Subject == nil ||
					!strings.Contains(found.Detail, `Pack "p" (`+tc.bin+`): `+tc.detail) {
					t.Errorf("diagnostics:\n%s", summaries(diags))
				}
				sum, _ := launch.HexSHA256(tc.bin)
				if _, err := os.Stat(filepath.Join(SchemaCacheDir(), cacheEntryName(tc.bin, sum))); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("a bad description was cached: %v", err)
				}
			})
		}
	}
}

// TestPackThatCannotStart: for validate, a pack that cannot be started is
// an error; for a run, a warning, its tasks are not checked and end
// Errored (Plan.PackErrors), and the other packs' tasks are checked.
func TestPackThatCannotStart(t *testing.T) {
	t.Parallel()
	text := fmt.Sprintf(`
job "j" {}
pack "gone" { path = %q }
pack "p" { path = %q }
task "a" {
  pack = "gone"
  task = "whatever"
}
task "b" {
  pack = "p"
  task = "pass"
}
`, filepath.Join(t.TempDir(), "nosuch"), hookpack)
	path := writeJob(t, text)

	p, diags := Make(context.Background(), path, Options{})
	if p != nil || !diags.HasErrors() || !strings.Contains(summaries(diags), `error: Pack cannot be started: Pack "gone"`) {
		t.Errorf("validate: plan %v, diagnostics:\n%s", p, summaries(diags))
	}

	p, diags = Make(context.Background(), path, Options{ForRun: true})
	if diags.HasErrors() || p == nil {
		t.Fatalf("run: diagnostics:\n%s", summaries(diags))
	}
	if s := summaries(diags); !strings.Contains(s, `warning: Pack cannot be started: Pack "gone"`) || !strings.Contains(s, "Its tasks will end Errored; the others run.") {
		t.Errorf("run: diagnostics:\n%s", s)
	}
	if p.PackErrors["gone"] == nil || p.PackErrors["p"] != nil || p.Packs["gone"] != nil || p.Packs["p"] == nil {
		t.Errorf("pack errors %v, packs %v", p.PackErrors, p.Packs)
	}
	if _, ok := p.Args["b"]; !ok {
		t.Errorf("task b was not checked: %v", p.Args)
	}
}

// TestHookArgs: hooks are checked against the hooks their pack serves.
func TestHookArgs(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		hook    string
		wantErr string
	}{
		"known":   {"hook \"s\" {\n  pack = \"p\"\n  hook = \"seed\"\n}", ""},
		"unknown": {"hook \"s\" {\n  pack = \"p\"\n  hook = \"sed\"\n}", `Pack "p" has no hook "sed".`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := writeJob(t, fmt.Sprintf("job \"j\" {}\npack \"p\" { path = %q }\n%s\n", hookpack, tc.hook))
			p, diags := Make(context.Background(), path, Options{})
			if tc.wantErr == "" {
				if diags.HasErrors() {
					t.Fatal(summaries(diags))
				}
				if _, ok := p.HookArgs["s"]; !ok {
					t.Errorf("hook args %v", p.HookArgs)
				}
				return
			}
			if !strings.Contains(summaries(diags), tc.wantErr) {
				t.Errorf("diagnostics lack %q:\n%s", tc.wantErr, summaries(diags))
			}
		})
	}
}
