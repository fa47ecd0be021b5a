package plan

import (
	"slices"
	"testing"

	"github.com/taskhost/taskhost/host/jobfile"
)

func TestSelectKeepsDependencies(t *testing.T) {
	job := &jobfile.Job{Tasks: []*jobfile.Task{
		{ID: "setup"},
		{ID: "a", DependsOn: []string{"setup"}},
		{ID: "b", DependsOn: []string{"a"}},
		{ID: "c"},
		{ID: "d", DependsOn: []string{"c"}},
	}}
	p := &Plan{Job: job}
	left := p.Select(func(id string) bool { return id == "b" })
	var ids []string
	for _, t := range p.Job.Tasks {
		ids = append(ids, t.ID)
	}
	if want := []string{"setup", "a", "b"}; !slices.Equal(ids, want) {
		t.Errorf("selected %v, want %v", ids, want)
	}
	if want := []string{"c", "d"}; !slices.Equal(left, want) {
		t.Errorf("left out %v, want %v", left, want)
	}
	if len(job.Tasks) != 5 {
		t.Errorf("the original job changed: %d tasks", len(job.Tasks))
	}
}
