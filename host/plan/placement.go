package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
)

// checkPlacements refuses every task placed on agents, with one
// diagnostic on each placement block that places tasks there, in the
// order of the file: this build runs every task on the host.
func checkPlacements(job *jobfile.Job) hcl.Diagnostics {
	type group struct {
		rng   hcl.Range
		tasks []string
	}
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
	// In the order of the file: a job's default may come after tasks.
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].rng.Start.Byte < groups[j].rng.Start.Byte })
	var diags hcl.Diagnostics
	for _, g := range groups {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No agent for this placement",
			Detail: fmt.Sprintf("This build runs every task on the host; placement needs taskhost agent workers, which it does not have. "+
				"The placement applies to %s. Remove it, or write placement { local = true }, to run on the host.", taskList(g.tasks)),
			Subject: g.rng.Ptr(),
		})
	}
	return diags
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
