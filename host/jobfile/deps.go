package jobfile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// checkDependencies reports depends_on elements naming an undeclared task
// or the task itself, and cycles among the tasks.
func (l *loader) checkDependencies(job *Job) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ids := make([]string, 0, len(job.Tasks)+len(l.baseNames))
	for _, t := range job.Tasks {
		ids = append(ids, t.ID)
	}
	for _, name := range l.baseNames {
		if tb := l.bases[name]; tb != nil && tb.expanded() {
			ids = append(ids, name)
		}
	}
	for _, task := range job.Tasks {
		for i, dep := range task.DependsOn {
			rng := task.depRanges[i]
			switch {
			case dep == task.ID:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Task depends on itself",
					Detail:   fmt.Sprintf("Task %q lists itself in depends_on.", task.ID),
					Subject:  rng.Ptr(),
				})
			case job.Task(dep) == nil:
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Unknown dependency",
					Detail:   fmt.Sprintf("Task %q depends on %q, but no task with that id is declared.%s", task.ID, dep, l.didYouMean(dep, ids)),
					Subject:  rng.Ptr(),
				})
			}
		}
	}
	return append(diags, l.checkCycles(job)...)
}

// checkCycles reports each cycle in depends_on found by a depth-first walk
// from the tasks in file order. Self dependencies and unknown tasks are
// reported by checkDependencies and ignored here.
func (l *loader) checkCycles(job *Job) hcl.Diagnostics {
	const (
		unvisited = iota
		visiting
		visited
	)

	var diags hcl.Diagnostics
	state := make(map[string]int, len(job.Tasks))
	var path []string

	var visit func(task *Task)
	visit = func(task *Task) {
		state[task.ID] = visiting
		path = append(path, task.ID)
		for _, dep := range task.DependsOn {
			next := job.Task(dep)
			if next == nil || next == task {
				continue
			}
			switch state[dep] {
			case unvisited:
				visit(next)
			case visiting:
				cycle := append(slices.Clone(path[slices.Index(path, dep):]), dep)
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Dependency cycle",
					Detail:   fmt.Sprintf("Tasks cannot depend on each other in a cycle: %s.", strings.Join(cycle, " -> ")),
					Subject:  l.depAttrOf(dep, job).Ptr(),
				})
			}
		}
		path = path[:len(path)-1]
		state[task.ID] = visited
	}

	for _, task := range job.Tasks {
		if state[task.ID] == unvisited {
			visit(task)
		}
	}
	return diags
}

// depAttrOf is the range of the attribute holding id's dependencies.
func (l *loader) depAttrOf(id string, job *Job) hcl.Range {
	if rng, ok := l.depAttr[id]; ok {
		return rng
	}
	return job.Task(id).DeclRange
}
