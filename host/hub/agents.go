package hub

import (
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/taskhost/taskhost/host/agentwire"
)

// What an agent may do on the run's hub, and no more: publish on its own
// subjects (claims, reports, the log chunks and state requests of the
// attempts it runs, heartbeat: agentwire's th.<rk>.a.<agent>.>), fetch and acknowledge the work
// of its classes, read the packs' object store (agentwire.PackReadSubjects),
// and receive its replies, the host's control requests
// to it and the host's heartbeat; it may answer a request it received.
func (h *Hub) agentUser(name string, classes []string) *server.User {
	n := agentwire.Names{RunKey: h.runKey}
	pub := []string{n.Agent(name) + ">", agentwire.HeartbeatSubject(name), n.Acks()}
	pub = append(pub, agentwire.PackReadSubjects()...)
	for _, c := range classes {
		pub = append(pub, n.Fetch(c))
	}
	return &server.User{
		Username: "agent " + name,
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: pub},
			Subscribe: &server.SubjectPermission{Allow: []string{n.Inbox(name) + ".>", n.Control(name), n.HostHeartbeat()}},
			// Answers to the host's control requests, one each.
			Response: &server.ResponsePermission{MaxMsgs: 1, Expires: 5 * time.Minute},
		},
	}
}

// AddAgent admits the agent name, which takes the work of classes, and
// returns its token: good for the agent's own subjects and the work
// consumers of its classes (see agentwire), until RemoveAgent. Adding a
// name again replaces its token (the old one is revoked).
func (h *Hub) AddAgent(name string, classes []string) (token string, err error) {
	if err := agentwire.CheckName("agent", name); err != nil {
		return "", err
	}
	for _, c := range classes {
		if err := agentwire.CheckName("class", c); err != nil {
			return "", err
		}
	}
	h.RemoveAgent(name)
	token = randomHex(24)
	a := h.auth
	a.mu.Lock()
	if a.agents == nil {
		a.agents = map[string]*server.User{}
	}
	a.agents[token] = h.agentUser(name, classes)
	a.mu.Unlock()
	return token, nil
}

// RemoveAgent revokes the agent's token and closes its connections.
func (h *Hub) RemoveAgent(name string) {
	a := h.auth
	var ids []uint64
	a.mu.Lock()
	for token, u := range a.agents {
		if u.Username == "agent "+name {
			delete(a.agents, token)
			ids = append(ids, a.clients[token]...)
			delete(a.clients, token)
		}
	}
	a.mu.Unlock()
	h.disconnect(ids)
}

// RunKey is the random key that scopes the run's subjects and streams
// (agentwire.Names).
func (h *Hub) RunKey() string { return h.runKey }

// Replicas is how many nodes hold the run's streams: 1 for the embedded
// hub, the cluster's count with `run --hub` (ExternalConfig.Replicas).
// The agents' work queue and log stream are made with it too.
func (h *Hub) Replicas() int { return max(h.replicas, 1) }

// Conn is the host's own connection to the hub, which may do anything;
// host/remote speaks to the agents on it.
func (h *Hub) Conn() *nats.Conn { return h.nc }
