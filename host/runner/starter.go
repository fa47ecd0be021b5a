package runner

import (
	"context"
	"io"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/internal/packwire"
)

// packStarter starts the pack binaries of a run's calls (host/launch): a
// hook's pack for the hook alone; a task's as the debugging options say
// (under Delve, or with the terminal), else a process started ahead of
// the task's turn if there is one (spare.go).
type packStarter struct{ r *execution }

func (s packStarter) Start(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error) {
	r := s.r
	if c.Hook != nil {
		return launched(launch.Start(ctx, r.packConfig(r.plan.Job.Pack(c.Pack), out)))
	}
	t := r.tasks[c.ID].task
	// go-plugin's own messages (it logs every start, and every kill as an
	// error) would only be noise in job.log: launch errors come back as
	// errors, and the runner logs each start and end itself.
	cfg, started, err := r.launchConfig(t, out)
	var proc *launch.Process
	if err == nil {
		if d := r.opts.Debugging; t.ID == d.Debug || t.ID == d.Interactive {
			proc, err = launch.Start(ctx, cfg) // started for this task only
		} else {
			proc, err = r.spare.start(ctx, t.Pack, cfg, out)
		}
	}
	started()
	return launched(proc, err)
}

// launchedPack is a started pack binary serving a call.
type launchedPack struct{ *launch.Process }

func launched(p *launch.Process, err error) (attempt.Pack, error) {
	if err != nil {
		return nil, err
	}
	return launchedPack{p}, nil
}

func (p launchedPack) Run(ctx context.Context, c attempt.Call) (attempt.Reply, error) {
	return packwire.Run(ctx, p.Process.Run, c)
}
