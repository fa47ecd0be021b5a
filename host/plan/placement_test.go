package plan

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/packwire"
)

// TestPlacementRefused: a task placed on agents is an error, one on each
// placement block that places tasks there (the job's default too), with
// the tasks it applies to; it comes before any pack starts (the pack
// here does not exist, and no diagnostic says so). Tasks placed on the
// host pass.
func TestPlacementRefused(t *testing.T) {
	t.Parallel()
	path := writeJob(t, `job "x" {
  placement { labels = { lab = "sjc" } }
}
pack "p" { path = "/nonexistent/pack" }
task "a" {
  pack = "p"
  task = "pass"
}
task "b" {
  pack = "p"
  task = "pass"
  placement { local = true }
}
task "c" {
  count = 2
  pack  = "p"
  task  = "pass"
  placement { labels = { lab = "par" } }
}
`)
	p, diags := Make(context.Background(), path, Options{})
	if p != nil {
		t.Fatal("got a plan, want errors")
	}
	var got []string
	for _, d := range diags {
		got = append(got, d.Summary)
		if d.Subject == nil || d.Summary != "No agent for this placement" {
			t.Errorf("unexpected diagnostic: %s: %s", d.Summary, d.Detail)
			continue
		}
		if !strings.Contains(d.Detail, "which only a taskhost agent may run, and this run serves no agents. Start it with --listen") {
			t.Errorf("detail: %s", d.Detail)
		}
		switch d.Subject.Start.Line {
		case 2:
			if !strings.Contains(d.Detail, "applies to task a,") {
				t.Errorf("the job's placement: %s", d.Detail)
			}
		case 18:
			if !strings.Contains(d.Detail, "applies to tasks c[0], c[1],") {
				t.Errorf("c's placement: %s", d.Detail)
			}
		default:
			t.Errorf("diagnostic on line %d: %s", d.Subject.Start.Line, d.Detail)
		}
	}
	if len(got) != 2 {
		t.Errorf("diagnostics %q, want two", got)
	}
}

// TestPlacementLocal: placement { local = true } on every task, or on the
// job, plans as a jobfile without placement does; so does Check. A task
// placed on agents makes Check fail too.
func TestPlacementLocal(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"job": `job "x" {
  placement { local = true }
}
pack "p" { path = "` + hookpack + `" }
task "a" {
  pack = "p"
  task = "pass"
}
`,
		"tasks": `job "x" {
  placement { labels = { lab = "sjc" } }
}
pack "p" { path = "` + hookpack + `" }
task "a" {
  pack = "p"
  task = "pass"
  placement { local = true }
}
`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, diags := Make(context.Background(), writeJob(t, src), Options{})
			if diags.HasErrors() || p == nil {
				t.Fatalf("diagnostics:\n%s", summaries(diags))
			}
		})
	}

	d, err := launch.Describe(context.Background(), launch.Config{Path: hookpack})
	if err != nil {
		t.Fatal(err)
	}
	descs := map[string]*packwire.Description{"p": d}
	job, diags := jobfile.LoadSource("job.hcl", []byte(`job "x" {}
pack "p" { path = "p" }
task "a" {
  pack = "p"
  task = "pass"
  placement { labels = {} }
}
`), nil)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := Check(job, descs, nil)
	if p != nil || len(diags) != 1 || diags[0].Summary != "No agent for this placement" || diags[0].Subject.Start.Line != 6 {
		t.Errorf("Check: plan %v, diagnostics:\n%s", p, summaries(diags))
	}
	job.Tasks[0].Placement = jobfile.Placement{}
	if p, diags := Check(job, descs, nil); p == nil || diags.HasErrors() {
		t.Errorf("Check of a local task: plan %v, diagnostics:\n%s", p, summaries(diags))
	}
}

// TestPlacementClasses: with Options.Agents, tasks placed on agents get
// the class of their labels and their pack binary's platform; tasks of
// the same labels share one; a placement naming another os than the
// binary's is an error on its line. CheckAgents refuses a class no
// connected agent satisfies, on its placement's line, naming the
// connected agents and their labels.
func TestPlacementClasses(t *testing.T) {
	t.Parallel()
	path := writeJob(t, `job "x" {
  placement { labels = { lab = "sjc" } }
}
pack "p" { path = "`+hookpack+`" }
task "a" {
  pack = "p"
  task = "pass"
}
task "b" {
  pack = "p"
  task = "pass"
  placement { labels = { lab = "nyc" } }
}
task "c" {
  pack = "p"
  task = "pass"
}
task "d" {
  pack = "p"
  task = "pass"
  placement { local = true }
}
`)
	p, diags := Make(context.Background(), path, Options{Agents: true})
	if diags.HasErrors() || p == nil {
		t.Fatalf("diagnostics:\n%s", summaries(diags))
	}
	if len(p.Classes) != 2 || p.ClassOf["a"] != p.ClassOf["c"] || p.ClassOf["a"] == p.ClassOf["b"] || p.ClassOf["d"] != "" {
		t.Fatalf("classes %+v, of %v", p.Classes, p.ClassOf)
	}
	sjc := p.Classes[0]
	if sjc.ID != p.ClassOf["a"] || sjc.Labels["lab"] != "sjc" || sjc.Labels["os"] != runtime.GOOS || sjc.Labels["arch"] != runtime.GOARCH ||
		strings.Join(sjc.Tasks, ",") != "a,c" || sjc.Range.Start.Line != 2 {
		t.Errorf("class sjc: %+v", sjc)
	}

	agents := []Agent{{Name: "a1", Labels: map[string]string{"lab": "sjc", "os": runtime.GOOS, "arch": runtime.GOARCH, "rack": "4"}}}
	diags = CheckAgents(p, agents)
	if len(diags) != 1 || diags[0].Subject.Start.Line != 12 || !strings.Contains(diags[0].Detail, "task b") ||
		!strings.Contains(diags[0].Detail, "1 agent is connected: a1 (arch="+runtime.GOARCH+",lab=sjc,os="+runtime.GOOS+",rack=4)") {
		t.Errorf("CheckAgents, a1 only:\n%s", summaries(diags))
	}
	agents = append(agents, Agent{Name: "a2", Labels: map[string]string{"lab": "nyc", "os": runtime.GOOS, "arch": runtime.GOARCH}})
	if diags := CheckAgents(p, agents); len(diags) != 0 {
		t.Errorf("CheckAgents, a1 and a2:\n%s", summaries(diags))
	}
	if diags := CheckAgents(p, nil); len(diags) != 2 || !strings.Contains(diags[0].Detail, "No agent is connected") {
		t.Errorf("CheckAgents, none:\n%s", summaries(diags))
	}

	other := "windows"
	if runtime.GOOS == "windows" {
		other = "linux"
	}
	path = writeJob(t, `job "x" {}
pack "p" { path = "`+hookpack+`" }
task "a" {
  pack = "p"
  task = "pass"
  placement { labels = { os = "`+other+`" } }
}
`)
	if p, diags := Make(context.Background(), path, Options{Agents: true}); p != nil || len(diags) != 1 ||
		diags[0].Summary != "Placement the pack cannot run on" || diags[0].Subject.Start.Line != 6 {
		t.Errorf("os clash: plan %v, diagnostics:\n%s", p, summaries(diags))
	}
}

// TestPlacementOldPack: a pack that speaks only pack protocol 1 runs on
// the host, and placing its tasks on agents is an error on the
// placement's line that says to rebuild it.
func TestPlacementOldPack(t *testing.T) {
	t.Parallel()
	src := `job "x" {}
pack "p" { path = "` + v1pack + `" }
task "a" {
  pack = "p"
  task = "pass"
  placement { labels = { lab = "sjc" } }
}
`
	p, diags := Make(context.Background(), writeJob(t, src), Options{Agents: true})
	if p != nil || len(diags) != 1 || diags[0].Summary != "Pack cannot run on agents" || diags[0].Subject.Start.Line != 6 ||
		!strings.Contains(diags[0].Detail, "rebuild it") {
		t.Fatalf("plan %v, diagnostics:\n%s", p, summaries(diags))
	}
	src = strings.Replace(src, `placement { labels = { lab = "sjc" } }`, `placement { local = true }`, 1)
	if p, diags := Make(context.Background(), writeJob(t, src), Options{Agents: true}); p == nil || diags.HasErrors() {
		t.Fatalf("on the host: plan %v, diagnostics:\n%s", p, summaries(diags))
	}
}
