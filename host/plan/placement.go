package plan

import (
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/jobfile"
	"github.com/taskhost/taskhost/host/packstore"
	"github.com/taskhost/taskhost/internal/packwire"
)

// Class is a placement class of a run: the tasks an agent may run if it
// carries every one of Labels. Labels are the placement's, and the
// platform of the task's pack binary (os, arch), which agents always
// carry, so that an agent is never handed a binary it cannot run.
type Class struct {
	// ID names the class in the run's work queue: jobfile.ClassOf(Labels).ID.
	ID     string
	Labels map[string]string
	// Tasks are the ids of its tasks, in the jobfile's order.
	Tasks []string
	// Range is the placement block of its first task.
	Range hcl.Range
}

// Agent is what the plan needs to know of a connected agent.
type Agent struct {
	Name   string
	Labels map[string]string
}

// group is the tasks one placement block places on agents.
type group struct {
	rng   hcl.Range
	tasks []string
}

// remoteGroups are the placement blocks that place tasks on agents, with
// their tasks, in the order of the file (a job's default may come after
// tasks).
func remoteGroups(job *jobfile.Job) []*group {
	var groups []*group
	byRange := map[hcl.Range]*group{}
	for _, t := range job.Tasks {
		if !t.Placement.Remote {
			continue
		}
		g := byRange[t.Placement.DeclRange]
		if g == nil {
			g = &group{rng: t.Placement.DeclRange}
			byRange[g.rng] = g
			groups = append(groups, g)
		}
		g.tasks = append(g.tasks, t.ID)
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].rng.Start.Byte < groups[j].rng.Start.Byte })
	return groups
}

// checkPlacements refuses every task placed on agents when the run does
// not serve agents, with one diagnostic on each placement block that
// places tasks there, in the order of the file.
func checkPlacements(job *jobfile.Job, agents bool) hcl.Diagnostics {
	if agents {
		return nil
	}
	var diags hcl.Diagnostics
	for _, g := range remoteGroups(job) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No agent for this placement",
			Detail: fmt.Sprintf("The placement applies to %s, which only a taskhost agent may run, and this run serves no agents. "+
				"Start it with --listen to let agents in, or with --hub on a NATS cluster that agents connect to (see docs/agents.md), or write placement { local = true } to run on the host.",
				taskList(g.tasks)),
			Subject: g.rng.Ptr(),
		})
	}
	return diags
}

// classes makes the run's placement classes: each task placed on agents
// gets the class of its placement's labels and its pack binary's
// platform. A placement that names an os or arch its pack's binary is not
// built for is an error; so is a pack whose binary's platform cannot be
// read.
func classes(job *jobfile.Job, descs map[string]*packwire.Description) ([]*Class, map[string]string, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var out []*Class
	byID := map[string]*Class{}
	of := map[string]string{}
	platforms := map[string]packstore.Platform{}
	bad := map[string]bool{}
	for _, t := range job.Tasks {
		if !t.Placement.Remote {
			continue
		}
		p := job.Pack(t.Pack)
		if p == nil || bad[t.Pack] {
			continue
		}
		plat, ok := platforms[t.Pack]
		if d := descs[t.Pack]; !ok && d != nil {
			if err := RemoteCapable(d); err != nil {
				bad[t.Pack] = true
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Pack cannot run on agents",
					Detail: fmt.Sprintf("Task %s is placed on agents, and %v.", t.ID, err), Subject: t.Placement.DeclRange.Ptr()})
				continue
			}
		}
		if !ok {
			var err error
			plat, err = packstore.PlatformOf(p.Path)
			if err != nil {
				bad[t.Pack] = true
				diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Pack cannot run on agents",
					Detail:  fmt.Sprintf("Pack %q is placed on agents, and its binary's platform cannot be read: %v.", t.Pack, err),
					Subject: t.Placement.DeclRange.Ptr()})
				continue
			}
			platforms[t.Pack] = plat
		}
		labels := maps.Clone(t.Placement.Labels)
		if labels == nil {
			labels = map[string]string{}
		}
		conflict := ""
		for k, v := range map[string]string{"os": plat.OS, "arch": plat.Arch} {
			if w, ok := labels[k]; ok && w != v {
				conflict = fmt.Sprintf("%s = %q, but pack %q's binary is built for %s", k, w, t.Pack, plat)
			}
			labels[k] = v
		}
		if conflict != "" {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Placement the pack cannot run on",
				Detail: fmt.Sprintf("Task %s asks for %s: no agent could run that binary. Install a build of the pack for that platform, or change the placement.",
					t.ID, conflict),
				Subject: t.Placement.DeclRange.Ptr()})
			continue
		}
		id := jobfile.ClassOf(labels).ID
		c := byID[id]
		if c == nil {
			c = &Class{ID: id, Labels: labels, Range: t.Placement.DeclRange}
			byID[id] = c
			out = append(out, c)
		}
		c.Tasks = append(c.Tasks, t.ID)
		of[t.ID] = id
	}
	return out, of, diags
}

// CheckAgents says, with a diagnostic on each placement block that places
// tasks no agent of agents can run, which classes of p have no agent to
// run them. The diagnostic names the connected agents and their labels.
func CheckAgents(p *Plan, agents []Agent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[hcl.Range]bool{}
	for _, c := range p.Classes {
		ok := false
		for _, a := range agents {
			if agentwire.Satisfies(a.Labels, c.Labels) {
				ok = true
				break
			}
		}
		if ok || seen[c.Range] {
			continue
		}
		seen[c.Range] = true
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No agent for this placement",
			Detail: fmt.Sprintf("No connected agent carries every label of %s, which %s placed here need. %s",
				agentwire.FormatLabels(c.Labels), taskList(c.Tasks), connected(agents)),
			Subject: c.Range.Ptr(),
		})
	}
	return diags
}

// connected says which agents are connected, with their labels.
func connected(agents []Agent) string {
	if len(agents) == 0 {
		return "No agent is connected."
	}
	parts := make([]string, len(agents))
	for i, a := range agents {
		parts[i] = a.Name + " (" + agentwire.FormatLabels(a.Labels) + ")"
	}
	what := "agent is"
	if len(agents) > 1 {
		what = "agents are"
	}
	return fmt.Sprintf("%d %s connected: %s.", len(agents), what, strings.Join(parts, ", "))
}

// taskList names the first few of ids, and counts the rest.
func taskList(ids []string) string {
	const show = 5
	what := "task "
	if len(ids) > 1 {
		what = "tasks "
	}
	if len(ids) <= show {
		return what + strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%d tasks: %s and %d more", len(ids), strings.Join(ids[:show], ", "), len(ids)-show)
}
