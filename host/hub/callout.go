package hub

import (
	"fmt"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// On a cluster (ExternalConfig), the nodes ask the host who a client is:
// nats-server's auth callout. A node that a client connects to publishes
// an authorization request (a JWT the node signed) on
// server.AuthCalloutSubject; the host, subscribed as the callout's auth
// user, answers with a user JWT that the issuer account signed and that
// carries exactly the permissions the embedded hub's authenticator gives
// (a task's token: its own events subject and inbox; an agent's nkey: its
// classes' work), in the global account ("$G": the audience, as
// non-operator mode wants it). A client the host does not know (another
// host's task, on the same cluster) it does not answer: the host that
// knows it does, and a client nobody knows is refused when the node's
// authorization timeout passes.

// globalAccount is the account of a server without accounts, which the
// callout's users are placed in.
const globalAccount = "$G"

// startCallout subscribes the callout service, on connections of its own
// to two different nodes (one, if there is one): while one's node is down
// and it reconnects, the other answers, so a task whose node died is let
// in again on another at once. They are in one queue group, so that each
// request is answered once.
func (h *Hub) startCallout(e *externalNames) error {
	n := min(2, len(e.urls))
	for i := 0; i < n; i++ {
		urls := append(append([]string{}, e.urls[i:]...), e.urls[:i]...)
		nc, err := e.connect(fmt.Sprintf("taskhost host callout %d", i+1), urls)
		if err != nil {
			h.closeCallout()
			return fmt.Errorf("the callout service: %w", err)
		}
		h.callout = append(h.callout, nc)
		if _, err := nc.QueueSubscribe(server.AuthCalloutSubject, "taskhost."+h.runKey, func(m *nats.Msg) { h.answerCallout(e, m) }); err != nil {
			h.closeCallout()
			return fmt.Errorf("the callout service: %w", err)
		}
		if err := nc.Flush(); err != nil {
			h.closeCallout()
			return fmt.Errorf("the callout service: %w", err)
		}
	}
	return nil
}

func (h *Hub) closeCallout() {
	for _, nc := range h.callout {
		nc.Close()
	}
	h.callout = nil
}

// answerCallout answers one authorization request, if it is for a client
// the hub knows.
func (h *Hub) answerCallout(e *externalNames, m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rc, err := jwt.DecodeAuthorizationRequestClaims(string(m.Data))
	if err != nil {
		h.log.Warn("a bad authorization request from the cluster", "error", err)
		return
	}
	req := &rc.AuthorizationRequest
	u := h.auth.calloutUser(req)
	if u == nil {
		return // another host's, or nobody's
	}
	uc := jwt.NewUserClaims(req.UserNkey)
	uc.Audience = globalAccount
	uc.Name = u.Username
	uc.Permissions = jwtPermissions(u.Permissions)
	ujwt, err := uc.Encode(e.issuer)
	if err != nil {
		h.log.Warn("could not sign a user for the cluster", "user", u.Username, "error", err)
		return
	}
	cr := jwt.NewAuthorizationResponseClaims(req.UserNkey)
	cr.Audience = req.Server.ID
	cr.Jwt = ujwt
	tok, err := cr.Encode(e.issuer)
	if err != nil {
		h.log.Warn("could not sign an authorization response", "user", u.Username, "error", err)
		return
	}
	if err := m.Respond([]byte(tok)); err != nil {
		h.log.Warn("could not answer an authorization request", "user", u.Username, "error", err)
	}
}

// calloutUser is the user a client of the cluster stands for: a task's
// or an agent's token, or an agent's nkey (its signature over the node's
// nonce checked); nil if the hub does not know it.
func (a *authenticator) calloutUser(req *jwt.AuthorizationRequest) *server.User {
	o := req.ConnectOptions
	if o.Nkey != "" {
		if a.agentNet == nil {
			return nil
		}
		remote := req.ClientInformation.Host
		return a.agentNet.admitKey(o.Name, o.Nkey, o.SignedNonce, []byte(req.ClientInformation.Nonce), remote, 0)
	}
	if o.Token == "" {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if u := a.users[o.Token]; u != nil && u.Permissions != nil {
		return u // a task's; the host's own token is not used on a cluster
	}
	return a.agents[o.Token]
}

// jwtPermissions are p in a user JWT's terms.
func jwtPermissions(p *server.Permissions) jwt.Permissions {
	var out jwt.Permissions
	if p == nil {
		return out
	}
	if p.Publish != nil {
		out.Pub.Allow.Add(p.Publish.Allow...)
		out.Pub.Deny.Add(p.Publish.Deny...)
	}
	if p.Subscribe != nil {
		out.Sub.Allow.Add(p.Subscribe.Allow...)
		out.Sub.Deny.Add(p.Subscribe.Deny...)
	}
	if p.Response != nil {
		out.Resp = &jwt.ResponsePermission{MaxMsgs: p.Response.MaxMsgs, Expires: p.Response.Expires}
	}
	return out
}

// ClusterConfig is the authorization block every node of a cluster needs
// for hosts to run their hubs on it: the hosts' user nkeys (each may do
// anything, and powers the callout) and the issuer account's public key.
func ClusterConfig(hostPubs []string, issuerPub string) string {
	var b strings.Builder
	b.WriteString("authorization {\n  users: [\n")
	for _, p := range hostPubs {
		fmt.Fprintf(&b, "    { nkey: %q }\n", p)
	}
	b.WriteString("  ]\n  auth_callout {\n")
	fmt.Fprintf(&b, "    issuer: %q\n", issuerPub)
	b.WriteString("    auth_users: [ ")
	for i, p := range hostPubs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", p)
	}
	b.WriteString(" ]\n  }\n}\n")
	return b.String()
}
