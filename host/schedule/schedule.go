package schedule

import (
	"context"
	"fmt"

	"github.com/taskhost/taskhost/sdk/result"
)

// Task is one node of the graph.
type Task struct {
	ID        string
	DependsOn []string
	// Group names a limit of its own (the task's pack), if any.
	Group string
}

// Config is how to run the graph.
type Config struct {
	// MaxParallel is the most tasks run at once; 0 means no limit.
	MaxParallel int
	// GroupLimits is the most tasks of each group run at once; a group
	// not in it has no limit of its own.
	GroupLimits map[string]int
	// Run runs a task and returns its result. It is called on a goroutine
	// of its own; ctx ends when the schedule's context does.
	Run func(ctx context.Context, id string) result.Result
	// NotRun records a task that was not started: Blocked because a
	// dependency did not succeed or MaxFail was reached, or Aborted
	// because ctx ended first.
	NotRun func(id string, r result.Result, reason string)
	// MaxFail, if above 0, stops the schedule starting tasks once that
	// many of the tasks it started did not succeed (a task Blocked
	// without starting does not count); those not started by then end
	// Blocked. The tasks running at that moment go on to their end.
	MaxFail int
	// MaxFailName is how MaxFail was asked for ("--fail-fast"), named in
	// the reason of the tasks it stops; "" names it "max fail N".
	MaxFailName string
}

// Run runs every task once, in dependency order, and returns each one's
// result. The graph must have no cycles and no unknown dependencies (the
// jobfile loader checks both); Run panics otherwise.
func Run(ctx context.Context, tasks []Task, cfg Config) map[string]result.Result {
	index := make(map[string]int, len(tasks))
	for i, t := range tasks {
		index[t.ID] = i
	}
	waiting := make([]int, len(tasks))      // deps not yet ended
	dependents := make([][]int, len(tasks)) // reverse edges
	blockedBy := make([]string, len(tasks)) // first dep that did not succeed
	for i, t := range tasks {
		for _, d := range t.DependsOn {
			j, ok := index[d]
			if !ok {
				panic(fmt.Sprintf("schedule: task %q depends on unknown %q", t.ID, d))
			}
			waiting[i]++
			dependents[j] = append(dependents[j], i)
		}
	}

	results := make(map[string]result.Result, len(tasks))
	var ready []int // in jobfile order among those ready at once
	for i := range tasks {
		if waiting[i] == 0 {
			ready = append(ready, i)
		}
	}
	type done struct {
		i int
		r result.Result
	}
	doneCh := make(chan done)
	running, ended := 0, 0
	inGroup := map[string]int{}
	failed := 0   // tasks started that did not succeed
	stopped := "" // why no more tasks start, once MaxFail is reached
	// next takes the first ready task whose group has room, in order.
	next := func() (int, bool) {
		for k, i := range ready {
			g := tasks[i].Group
			if lim, ok := cfg.GroupLimits[g]; ok && lim > 0 && inGroup[g] >= lim && ctx.Err() == nil && stopped == "" {
				continue
			}
			ready = append(ready[:k], ready[k+1:]...)
			return i, true
		}
		return 0, false
	}

	var finish func(i int, r result.Result)
	finish = func(i int, r result.Result) {
		results[tasks[i].ID] = r
		ended++
		for _, d := range dependents[i] {
			if !r.Success() && blockedBy[d] == "" {
				blockedBy[d] = fmt.Sprintf("dependency %s ended %s", tasks[i].ID, r.Title())
			}
			waiting[d]--
			if waiting[d] == 0 {
				switch {
				case ctx.Err() != nil:
					// Nothing starts any more: the job was stopped, which
					// is what ended the dependency too.
					cfg.NotRun(tasks[d].ID, result.Aborted, "not started: "+context.Cause(ctx).Error())
					finish(d, result.Aborted)
				case stopped != "":
					cfg.NotRun(tasks[d].ID, result.Blocked, stopped)
					finish(d, result.Blocked)
				case blockedBy[d] != "":
					cfg.NotRun(tasks[d].ID, result.Blocked, blockedBy[d])
					finish(d, result.Blocked)
				default:
					ready = append(ready, d)
				}
			}
		}
	}

	for ended < len(tasks) {
		for cfg.MaxParallel <= 0 || running < cfg.MaxParallel {
			i, ok := next()
			if !ok {
				break
			}
			if err := ctx.Err(); err != nil {
				cfg.NotRun(tasks[i].ID, result.Aborted, "not started: "+context.Cause(ctx).Error())
				finish(i, result.Aborted)
				continue
			}
			if stopped != "" {
				cfg.NotRun(tasks[i].ID, result.Blocked, stopped)
				finish(i, result.Blocked)
				continue
			}
			running++
			inGroup[tasks[i].Group]++
			go func(i int) {
				doneCh <- done{i, cfg.Run(ctx, tasks[i].ID)}
			}(i)
		}
		if running == 0 {
			if len(ready) == 0 && ended < len(tasks) {
				panic("schedule: tasks wait on each other (a cycle)")
			}
			continue
		}
		d := <-doneCh
		running--
		inGroup[tasks[d.i].Group]--
		if !d.r.Success() && cfg.MaxFail > 0 && stopped == "" {
			if failed++; failed >= cfg.MaxFail {
				stopped = stopReason(cfg, failed, tasks[d.i].ID, d.r)
			}
		}
		finish(d.i, d.r)
	}
	return results
}

// stopReason is the reason of the tasks not started once MaxFail is
// reached, the last time by task id ending r.
func stopReason(cfg Config, failed int, id string, r result.Result) string {
	name := cfg.MaxFailName
	if name == "" {
		name = fmt.Sprintf("max fail %d", cfg.MaxFail)
	}
	if failed == 1 {
		return fmt.Sprintf("not started: %s ended %s (%s)", id, r.Title(), name)
	}
	return fmt.Sprintf("not started: %d tasks did not pass, the last %s ended %s (%s)", failed, id, r.Title(), name)
}
