package runner

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/logship"
	"github.com/taskhost/taskhost/host/plan"
	"github.com/taskhost/taskhost/host/remote"
)

// AgentsOptions open a run to taskhost agents (docs/agents.md): its hub
// listens for them, or on a cluster (Options.Hub) admits them through the
// nodes' auth callout, and its tasks placed on agents run there.
type AgentsOptions struct {
	// Listen is where the hub listens for agents (":4222"); "" on a
	// cluster.
	Listen string
	// TLS is the hub's certificate (host/lab); nil on a cluster, whose
	// TLS is its nodes'.
	TLS *tls.Config
	// Keys gives the admitted agents' public keys, by name (host/lab).
	Keys func() (map[string]string, error)
	// Wait is how long the run waits for agents that satisfy every
	// placement before it refuses the ones none satisfies; 0 is
	// DefaultAgentWait.
	Wait time.Duration
}

// DefaultAgentWait is how long a run waits for its agents by default.
const DefaultAgentWait = 10 * time.Second

// PlacementError is Execute's error when a placement has no agent to
// run it after the wait: nothing ran, and the run directory is removed.
type PlacementError struct {
	Diags hcl.Diagnostics
}

func (e *PlacementError) Error() string {
	return fmt.Sprintf("%d placement(s) with no agent to run them", len(e.Diags))
}

// hubAgents is the hub's configuration for the run's agents. On a
// cluster (no Listen), a run that places nothing on agents admits none: an
// agent admitted would wait for the run's end, while another run on the
// cluster may have work for it.
func hubAgents(p *plan.Plan, o *AgentsOptions) *hub.AgentsConfig {
	if o.Listen == "" && len(p.Classes) == 0 {
		return nil
	}
	classes := map[string]map[string]string{}
	for _, c := range p.Classes {
		classes[c.ID] = c.Labels
	}
	return &hub.AgentsConfig{Listen: o.Listen, TLS: o.TLS, Keys: o.Keys, Classes: classes, HostBeat: time.Second}
}

// PlanAgents is what the plan needs of the hub's agents.
func PlanAgents(as []hub.AgentInfo) []plan.Agent {
	out := make([]plan.Agent, len(as))
	for i, a := range as {
		out[i] = plan.Agent{Name: a.Name, Labels: a.Labels}
	}
	return out
}

// WaitAgents waits up to wait for agents that satisfy every class of p,
// and says which placements none satisfies then.
func WaitAgents(ctx context.Context, h *hub.Hub, p *plan.Plan, wait time.Duration) ([]hub.AgentInfo, hcl.Diagnostics) {
	if wait == 0 {
		wait = DefaultAgentWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	as := h.WaitAgents(ctx, func(as []hub.AgentInfo) bool { return len(plan.CheckAgents(p, PlanAgents(as))) == 0 })
	return as, plan.CheckAgents(p, PlanAgents(as))
}

// startAgents waits for the run's agents and starts the host's side of
// their work; nil if the run places nothing on agents.
func (r *execution) startAgents(ctx context.Context) (*remote.Starter, *logship.Sink, error) {
	if len(r.plan.Classes) == 0 {
		return nil, nil, nil
	}
	as, diags := WaitAgents(ctx, r.hub, r.plan, r.opts.Agents.Wait)
	for _, a := range as {
		r.log.Info("agent connected", "agent", a.Name, "labels", a.Labels, "remote", a.Remote)
	}
	if diags.HasErrors() {
		for _, d := range diags {
			r.log.Error(d.Summary, "detail", d.Detail)
		}
		return nil, nil, &PlacementError{Diags: diags}
	}
	ids := make([]string, len(r.plan.Classes))
	for i, c := range r.plan.Classes {
		ids[i] = c.ID
	}
	job := r.plan.Job
	sink, err := logship.NewSink(ctx, logship.SinkConfig{Conn: r.hub.Conn(), RunKey: r.hub.RunKey(), RunDir: r.dir,
		Replicas: r.hub.Replicas(), Logger: r.log.Named("logs")})
	if err != nil {
		return nil, nil, err
	}
	s, err := remote.NewStarter(ctx, remote.Config{
		Conn: r.hub.Conn(), RunKey: r.hub.RunKey(), Classes: ids, Replicas: r.hub.Replicas(),
		ClassOf:  func(c attempt.Call) string { return r.plan.ClassOf[c.ID] },
		PackPath: func(pack string) string { return job.Pack(pack).Path },
		PackSHA256: func(pack string) string {
			if p := job.Pack(pack); p != nil && p.SHA256 != nil {
				return hex.EncodeToString(p.SHA256)
			}
			return ""
		},
		StateSocket: r.hub.StateSocket(),
		Logs:        sink, RunDir: r.dir,
		Logger: r.log.Named("agents"),
	})
	if err != nil {
		sink.Close()
		return nil, nil, err
	}
	return s, sink, nil
}

// placedStarter starts the calls of tasks placed on agents there, and
// every other call (hooks, local tasks) on the host.
type placedStarter struct {
	r      *execution
	local  attempt.Starter
	remote *remote.Starter
}

func (s placedStarter) Start(ctx context.Context, c attempt.Call, out io.Writer) (attempt.Pack, error) {
	if c.Hook == nil && s.r.plan.ClassOf[c.ID] != "" {
		return s.remote.Start(ctx, c, out)
	}
	return s.local.Start(ctx, c, out)
}

// CheckAgents opens a hub to agents as a run of p would, waits for them
// as the run would, and says which placements no agent satisfies: what
// `taskhost validate --listen` does. Its store is a temporary directory,
// removed at the end.
func CheckAgents(ctx context.Context, p *plan.Plan, o *AgentsOptions, log hclog.Logger) ([]hub.AgentInfo, hcl.Diagnostics, error) {
	dir, err := os.MkdirTemp("", "taskhost-validate-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(dir)
	h, err := hub.Start(hub.Config{StoreDir: dir, Agents: hubAgents(p, o), Logger: log})
	if err != nil {
		return nil, nil, err
	}
	defer h.Close()
	as, diags := WaitAgents(ctx, h, p, o.Wait)
	return as, diags, nil
}
