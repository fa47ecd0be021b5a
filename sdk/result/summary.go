package result

// Counts counts results, as pyATS does; SuccessRate is
// (Passed + Passx + Skipped) / Total in percent, 100 when Total is 0.
type Counts struct {
	Passed      int     `json:"passed"`
	Passx       int     `json:"passx"`
	Failed      int     `json:"failed"`
	Errored     int     `json:"errored"`
	Aborted     int     `json:"aborted"`
	Blocked     int     `json:"blocked"`
	Skipped     int     `json:"skipped"`
	Total       int     `json:"total"`
	SuccessRate float64 `json:"success_rate"`
}

// Count counts rs.
func Count(rs []Result) Counts {
	var c Counts
	for _, r := range rs {
		switch r {
		case Passed:
			c.Passed++
		case Passx:
			c.Passx++
		case Failed:
			c.Failed++
		case Errored:
			c.Errored++
		case Aborted:
			c.Aborted++
		case Blocked:
			c.Blocked++
		case Skipped:
			c.Skipped++
		}
	}
	c.Total = len(rs)
	c.SuccessRate = 100
	if c.Total > 0 {
		c.SuccessRate = float64(c.Passed+c.Passx+c.Skipped) * 100 / float64(c.Total)
	}
	return c
}

// Stage is when a hook runs: around the whole job, or around each task.
type Stage string

// The four stages. Pre stages run in the jobfile's order, post stages in
// reverse order.
const (
	// PreJob runs before any task. A pre_job hook that does not pass
	// stops the job: every task ends Blocked.
	PreJob Stage = "pre_job"
	// PreTask runs before each task, in the task's turn. A pre_task hook
	// that does not pass blocks that task.
	PreTask Stage = "pre_task"
	// PostTask runs after each task, whatever its result.
	PostTask Stage = "post_task"
	// PostJob runs after every task has ended, even when the job was
	// stopped.
	PostJob Stage = "post_job"
)

// Stages lists the stages in the order they come.
var Stages = []Stage{PreJob, PreTask, PostTask, PostJob}

// RunSummary is a run's results so far, as the host hands them to a hook
// (as JSON, in the hook call). It is also the JSON the notify pack posts.
type RunSummary struct {
	Job    string `json:"job"`
	RunID  string `json:"run_id"`
	RunDir string `json:"rundir"`
	// Result is the rollup of the tasks that have ended (Passed when
	// none has).
	Result  Result        `json:"result"`
	Summary Counts        `json:"summary"`
	Tasks   []TaskSummary `json:"tasks"`
	// Hooks lists the hook calls that have ended.
	Hooks []HookSummary `json:"hooks,omitempty"`
}

// TaskSummary is one task of a RunSummary. Result is Unset (and left out
// of the JSON) while the task has not ended.
type TaskSummary struct {
	ID     string `json:"id"`
	Pack   string `json:"pack"`
	Task   string `json:"task"`
	Result Result `json:"result,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// HookSummary is one hook call of a RunSummary.
type HookSummary struct {
	Name   string `json:"name"`
	Stage  Stage  `json:"stage"`
	Task   string `json:"task,omitempty"`
	Result Result `json:"result"`
	Reason string `json:"reason,omitempty"`
}
