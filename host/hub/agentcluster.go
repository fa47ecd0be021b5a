package hub

import (
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
)

// On a cluster, the hub cannot list the nodes' connections (Connz is the
// embedded server's): it counts an agent as connected from its admission
// by the callout, and keeps it so while it hears the agent, its hello and
// its heartbeat (which it sends every second while it serves the run). An
// agent not heard for agentSilence is gone. The nodes' connect and
// disconnect events are published in their system account only, which the
// host's user is not in.

// agentSilence is how long an agent on a cluster may go unheard before
// the hub counts it gone: five of its heartbeats.
const agentSilence = 5 * time.Second

// watchClusterAgents keeps the registry of the agents on a cluster: it
// forgets those not heard for agentSilence, keeps one entry for each
// agent (the callout admits it at each connect, on any node), and forgets
// the revoked ones (a revoked agent is refused at its next connect: the
// host cannot close its connection), until the hub stops.
func (h *Hub) watchClusterAgents() error {
	a := h.agents
	var mu sync.Mutex
	heard := map[string]time.Time{}
	hear := func(m *nats.Msg) {
		// th.agents.<name>.hb and .hello: the agent's permissions allow
		// it its own only.
		parts := strings.Split(m.Subject, ".")
		if len(parts) != 4 {
			return
		}
		mu.Lock()
		heard[parts[2]] = time.Now()
		mu.Unlock()
	}
	var subs []*nats.Subscription
	for _, subject := range []string{agentwire.AnyHeartbeat, agentwire.AnyHello} {
		sub, err := h.nc.Subscribe(subject, hear)
		if err != nil {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
			return err
		}
		subs = append(subs, sub)
	}
	go func() {
		poll := time.NewTicker(agentPollEvery)
		defer poll.Stop()
		revoke := time.NewTicker(a.cfg.RevokeCheck)
		defer revoke.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-poll.C:
				mu.Lock()
				last := make(map[string]time.Time, len(heard))
				for name, at := range heard {
					last[name] = at
				}
				mu.Unlock()
				h.forgetSilentAgents(last, time.Now())
			case <-revoke.C:
				h.forgetRevokedAgents()
			}
		}
	}()
	return nil
}

// forgetSilentAgents keeps, of each agent, its latest admission only, and
// forgets the agents heard last (admitted, or in heard) more than
// agentSilence before now.
func (h *Hub) forgetSilentAgents(heard map[string]time.Time, now time.Time) {
	a := h.agents
	a.mu.Lock()
	defer a.mu.Unlock()
	latest := map[string]uint64{}
	for id, c := range a.conns {
		if l, ok := latest[c.name]; !ok || a.conns[l].since.Before(c.since) || a.conns[l].since.Equal(c.since) && l < id {
			latest[c.name] = id
		}
	}
	var changed bool
	for id, c := range a.conns {
		l := latest[c.name]
		if id != l {
			delete(a.conns, id) // an earlier connection, which the latest replaced
			continue
		}
		at := c.since
		if heard[c.name].After(at) {
			at = heard[c.name]
		}
		if now.Sub(at) > agentSilence {
			delete(a.conns, id)
			changed = true
			a.log.Info("agent gone: not heard", "agent", c.name, "for", now.Sub(at).Round(time.Millisecond))
		}
	}
	if changed {
		a.touch()
	}
}

// forgetRevokedAgents forgets the agents whose key Keys no longer lists.
func (h *Hub) forgetRevokedAgents() {
	_, names := h.dropRevoked()
	for name := range names {
		h.agents.log.Warn("agent revoked: its key is no longer listed; it is refused at its next connect", "agent", name)
	}
}
