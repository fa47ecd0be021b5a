package plan

// Select narrows the plan to the tasks keep chooses and every task they
// depend on, directly or not, so that what runs can run. The order of the
// jobfile is kept. It returns the ids of the tasks left out, in jobfile
// order. A plan whose keep chooses nothing is left with no tasks.
func (p *Plan) Select(keep func(id string) bool) (left []string) {
	job := *p.Job
	wanted := map[string]bool{}
	var want func(id string)
	want = func(id string) {
		if wanted[id] {
			return
		}
		wanted[id] = true
		if t := job.Task(id); t != nil {
			for _, d := range t.DependsOn {
				want(d)
			}
		}
	}
	for _, t := range job.Tasks {
		if keep(t.ID) {
			want(t.ID)
		}
	}
	job.Tasks = nil
	for _, t := range p.Job.Tasks {
		if wanted[t.ID] {
			job.Tasks = append(job.Tasks, t)
		} else {
			left = append(left, t.ID)
		}
	}
	p.Job = &job
	return left
}
