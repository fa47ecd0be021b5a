package hub

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/host/agentwire"
)

// AgentsConfig opens the hub to taskhost agents (Config.Agents).
type AgentsConfig struct {
	// Listen is where to listen: ":4222", "0.0.0.0:4222", "[::]:4222"
	// (every address) or a loopback address ("127.0.0.1:4222",
	// "localhost:4222"). A specific non-loopback address is refused: the
	// host's own tasks reach the hub on loopback, in plain. Port 0 picks
	// a free port.
	Listen string
	// TLS is the server side's TLS config (its certificate); required.
	// Every client that is not on loopback must use TLS.
	TLS *tls.Config
	// Keys returns the agents admitted now: name -> public nkey (the
	// "U..." user public key); required. It is called at each agent's
	// connect, and every RevokeCheck to find revoked agents, whose
	// connections are closed.
	Keys func() (map[string]string, error)
	// RevokeCheck is how often Keys is read for revoked agents; 0 is 1s.
	RevokeCheck time.Duration
	// Classes are the run's placement classes: id -> the labels an agent
	// must have (all, with the same values). An agent takes the work of
	// each class its labels satisfy.
	Classes map[string]map[string]string
	// HostBeat is told to agents in HelloReply (how often the host beats).
	HostBeat time.Duration
}

// AgentInfo is an agent connected to the hub by its nkey.
type AgentInfo struct {
	Name string
	// Labels are those its connection name carries (of its latest
	// connection, if it has several), and Classes the run's classes they
	// satisfy, sorted.
	Labels  map[string]string
	Classes []string
	// Remote is the address of its latest connection.
	Remote string
	// Since is when its earliest open connection was made.
	Since time.Time
	// Conns is how many connections it has open.
	Conns int
}

// agentPollEvery is how often the hub looks at the server's open
// connections for agents that left.
const agentPollEvery = 250 * time.Millisecond

// listenAddr reads AgentsConfig.Listen: the server's host and port, and
// the loopback host the host's own connections use.
func listenAddr(listen string) (host string, port int, local string, err error) {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, "", fmt.Errorf("listen address %q: bad port %q", listen, p)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	switch h {
	case "", "0.0.0.0":
		return "0.0.0.0", port, "127.0.0.1", nil
	case "::":
		return "::", port, "127.0.0.1", nil
	case "localhost":
		return "127.0.0.1", port, "127.0.0.1", nil
	}
	ip := net.ParseIP(h)
	switch {
	case ip == nil:
		return "", 0, "", fmt.Errorf("listen address %q: give an IP address, or none for every address", listen)
	case ip.IsUnspecified():
		return h, port, "127.0.0.1", nil
	case !ip.IsLoopback():
		return "", 0, "", fmt.Errorf("listen address %q: listen on every address (%s) or on loopback, not on one non-loopback address: the host's own tasks reach the hub on loopback",
			listen, net.JoinHostPort("", p))
	}
	return h, port, h, nil
}

// agentConn is one open connection of an agent admitted by its nkey.
type agentConn struct {
	name    string
	pub     string
	labels  map[string]string
	classes []string
	remote  string
	since   time.Time
	missed  int // looks at the server's connections that did not find it
}

// agentNet admits agents by nkey and keeps those connected.
type agentNet struct {
	cfg AgentsConfig
	log hclog.Logger
	// user makes the permissions of agent name taking the work of
	// classes.
	user func(name string, classes []string) *server.User

	mu      sync.Mutex
	conns   map[uint64]*agentConn
	nextID  uint64        // ids given to connections on a cluster
	changed chan struct{} // closed and replaced when conns changes
}

// newAgentNet checks cfg; on a cluster (external), there is no listener of
// the hub's own, and no TLS config.
func newAgentNet(cfg AgentsConfig, log hclog.Logger, user func(string, []string) *server.User, external bool) (*agentNet, error) {
	if cfg.TLS == nil && !external {
		return nil, errors.New("agents: a TLS config (the hub's certificate) is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("agents: Keys is required")
	}
	for id := range cfg.Classes {
		if err := agentwire.CheckName("class", id); err != nil {
			return nil, fmt.Errorf("agents: %w", err)
		}
	}
	if cfg.RevokeCheck <= 0 {
		cfg.RevokeCheck = time.Second
	}
	return &agentNet{cfg: cfg, log: log, user: user, conns: map[uint64]*agentConn{}, changed: make(chan struct{})}, nil
}

// local says whether a connection from addr may go without TLS: from
// loopback, or in-process (no network address: the host's own).
func local(addr net.Addr) bool {
	if addr == nil {
		return true
	}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return true // net.Pipe's: the in-process connection
	}
	return tcp.IP.IsLoopback()
}

// classesOf are the run's classes that labels satisfy, sorted.
func (a *agentNet) classesOf(labels map[string]string) []string {
	var out []string
	for id, want := range a.cfg.Classes {
		if agentwire.Satisfies(labels, want) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// admit checks a client that presents an nkey: it must be listed in Keys
// under the name its connection name gives, and have signed the nonce
// with the key's seed. It returns the agent's user, or nil.
func (a *agentNet) admit(c server.ClientAuthentication) *server.User {
	o := c.GetOpts()
	remote := ""
	if addr := c.RemoteAddress(); addr != nil {
		remote = addr.String()
	}
	return a.admitKey(o.Name, o.Nkey, o.Sig, c.GetNonce(), remote, c.GetID())
}

// admitKey checks an agent's connection name, its nkey and its signature
// sig over nonce, and registers its connection id (0: a connection the
// hub cannot tell, on a cluster, given an id of its own). It returns the
// agent's user, or nil.
func (a *agentNet) admitKey(connName, nkey, sigText string, nonce []byte, remote string, id uint64) *server.User {
	refuse := func(why string, args ...any) *server.User {
		a.log.Warn("refused an agent: "+why, append([]any{"remote", remote, "conn_name", connName}, args...)...)
		return nil
	}
	name, labels, err := agentwire.ParseConnName(connName)
	if err != nil {
		return refuse("its connection name is not an agent's", "error", err)
	}
	keys, err := a.cfg.Keys()
	if err != nil {
		return refuse("the agents' keys could not be read", "agent", name, "error", err)
	}
	if keys[name] == "" || keys[name] != nkey {
		return refuse("its key is not the agent's listed key", "agent", name, "nkey", nkey)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigText)
	if err != nil {
		if sig, err = base64.StdEncoding.DecodeString(sigText); err != nil {
			return refuse("its signature is not base64", "agent", name)
		}
	}
	pk, err := nkeys.FromPublicKey(nkey)
	if err != nil {
		return refuse("its public key is not an nkey", "agent", name, "error", err)
	}
	if len(nonce) == 0 {
		return refuse("no nonce to check its signature against", "agent", name)
	}
	if err := pk.Verify(nonce, sig); err != nil {
		return refuse("its signature does not verify with its listed key", "agent", name)
	}
	classes := a.classesOf(labels)
	u := a.user(name, classes)
	u.Permissions.Publish.Allow = append(u.Permissions.Publish.Allow, agentwire.HelloSubject(name))
	a.mu.Lock()
	if id == 0 {
		a.nextID++
		id = 1<<63 | a.nextID
	}
	a.conns[id] = &agentConn{name: name, pub: nkey, labels: labels, classes: classes, remote: remote, since: time.Now()}
	a.touch()
	a.mu.Unlock()
	a.log.Info("agent connected", "agent", name, "remote", remote, "labels", agentwire.FormatLabels(labels), "classes", strings.Join(classes, ","))
	return u
}

// touch wakes WaitAgents; under a.mu.
func (a *agentNet) touch() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// list is the connected agents, sorted by name; under a.mu.
func (a *agentNet) list() []AgentInfo {
	byName := map[string]*AgentInfo{}
	latest := map[string]time.Time{}
	for _, c := range a.conns {
		ai := byName[c.name]
		if ai == nil {
			ai = &AgentInfo{Name: c.name, Since: c.since}
			byName[c.name] = ai
		}
		ai.Conns++
		if c.since.Before(ai.Since) {
			ai.Since = c.since
		}
		if !c.since.Before(latest[c.name]) {
			latest[c.name] = c.since
			ai.Labels, ai.Classes, ai.Remote = maps.Clone(c.labels), slices.Clone(c.classes), c.remote
		}
	}
	out := make([]AgentInfo, 0, len(byName))
	for _, ai := range byName {
		out = append(out, *ai)
	}
	slices.SortFunc(out, func(x, y AgentInfo) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// classesFor are the classes of agent name's latest connection; ok is
// false if it has none open.
func (a *agentNet) classesFor(name string) (classes []string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var at time.Time
	for _, c := range a.conns {
		if c.name == name && !c.since.Before(at) {
			at, classes, ok = c.since, c.classes, true
		}
	}
	return slices.Clone(classes), ok
}

// Agents returns the agents connected by their nkeys now, sorted by name
// (those admitted by AddAgent's tokens are not among them).
func (h *Hub) Agents() []AgentInfo {
	if h.agents == nil {
		return nil
	}
	h.agents.mu.Lock()
	defer h.agents.mu.Unlock()
	return h.agents.list()
}

// WaitAgents returns the connected agents as soon as ok holds for them,
// or when ctx ends (with the agents connected then). A hub without
// Config.Agents has none: it waits for ctx.
func (h *Hub) WaitAgents(ctx context.Context, ok func([]AgentInfo) bool) []AgentInfo {
	a := h.agents
	if a == nil {
		<-ctx.Done()
		return nil
	}
	for {
		a.mu.Lock()
		list, ch := a.list(), a.changed
		a.mu.Unlock()
		if ok(list) {
			return list
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return h.Agents()
		}
	}
}

// watchAgents forgets the agents' connections that closed, and closes
// those of revoked agents (whose key Keys no longer lists, or lists
// changed), until the hub stops.
//
// It polls the server's open connections (Connz) rather than listen for
// the server's disconnect events: those are published in the system
// account only, which the hub's connections are not in, while the list of
// open connections is the server's own truth at each look, and a look
// missed (the hub busy) only delays a departure.
func (h *Hub) watchAgents() {
	a := h.agents
	poll := time.NewTicker(agentPollEvery)
	defer poll.Stop()
	revoke := time.NewTicker(a.cfg.RevokeCheck)
	defer revoke.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-poll.C:
			h.forgetClosedAgents()
		case <-revoke.C:
			h.revokeAgents()
		}
	}
}

// forgetClosedAgents drops from the registry the connections the server
// no longer has open.
func (h *Hub) forgetClosedAgents() {
	a := h.agents
	cz, err := h.srv.Connz(&server.ConnzOptions{State: server.ConnOpen, Limit: 1 << 30})
	if err != nil {
		return
	}
	open := make(map[uint64]bool, len(cz.Conns))
	for _, ci := range cz.Conns {
		open[ci.Cid] = true
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var gone bool
	for id, c := range a.conns {
		if open[id] {
			c.missed = 0
			continue
		}
		// A connection admitted while the list was taken is missed
		// once: it is forgotten when missed twice.
		if c.missed++; c.missed >= 2 {
			delete(a.conns, id)
			gone = true
			a.log.Info("agent connection closed", "agent", c.name, "remote", c.remote)
		}
	}
	if gone {
		a.touch()
	}
}

// revokeAgents closes the connections of the agents whose key Keys no
// longer lists (Check refuses them from now on).
func (h *Hub) revokeAgents() {
	ids, names := h.dropRevoked()
	for name := range names {
		h.agents.log.Warn("agent revoked: its key is no longer listed; closing its connections", "agent", name)
	}
	h.disconnect(ids)
}

// dropRevoked drops from the registry the connections of the agents
// whose key Keys no longer lists, and returns them and the agents' names;
// nothing when the keys cannot be read (they are checked again later).
func (h *Hub) dropRevoked() (ids []uint64, names map[string]bool) {
	a := h.agents
	keys, err := a.cfg.Keys()
	if err != nil {
		a.log.Warn("the agents' keys could not be read; revocations are checked again later", "error", err)
		return nil, nil
	}
	names = map[string]bool{}
	a.mu.Lock()
	for id, c := range a.conns {
		if keys[c.name] != c.pub {
			ids = append(ids, id)
			names[c.name] = true
			delete(a.conns, id)
		}
	}
	if len(ids) > 0 {
		a.touch()
	}
	a.mu.Unlock()
	return ids, names
}

// answerHellos answers each agent's Hello on the host's connection with
// the run's key and the agent's classes.
func (h *Hub) answerHellos() (*nats.Subscription, error) {
	return h.nc.Subscribe(agentwire.AnyHello, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		// th.agents.<name>.hello: the agent's permissions allow it its
		// own only.
		parts := strings.Split(m.Subject, ".")
		if len(parts) != 4 {
			return
		}
		name := parts[2]
		reply := agentwire.HelloReply{Version: agentwire.Version}
		var hello agentwire.Hello
		if err := agentwire.Decode(m.Data, &hello); err != nil {
			reply.Error = err.Error()
		} else if classes, ok := h.agents.classesFor(name); !ok {
			reply.Error = "not connected to this hub as agent " + name
		} else {
			reply.RunKey, reply.Classes, reply.HostBeat = h.runKey, classes, h.agents.cfg.HostBeat
		}
		if err := m.Respond(agentwire.Encode(reply)); err != nil {
			h.log.Warn("could not answer an agent's hello", "agent", name, "error", err)
		}
	})
}

// CheckListen says why listen cannot be AgentsConfig.Listen, or nil.
func CheckListen(listen string) error {
	_, _, _, err := listenAddr(listen)
	return err
}
