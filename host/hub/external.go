package hub

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// ExternalConfig runs the hub on a NATS cluster that the user runs
// (nats-server, its nodes' routes and JetStream set up by them), rather
// than on a server embedded in the host. The host is a client of the
// cluster: it connects as the user of HostSeed, which the nodes' config
// lists with no permissions (it may do anything), and it admits the
// tasks' tokens and the agents' nkeys itself, through the nodes' auth
// callout (callout.go), whose issuer is the account of IssuerSeed.
// ClusterConfig gives the block each node's config needs.
type ExternalConfig struct {
	// URLs are the nodes' client URLs, comma-separated
	// ("nats://a:4222,nats://b:4222"); the host's own tasks get them too.
	URLs string
	// HostSeed is the seed of the host's user nkey ("SU...").
	HostSeed []byte
	// IssuerSeed is the seed of the account nkey ("SA...") that signs the
	// users the callout admits.
	IssuerSeed []byte
	// CA, if set, is the PEM certificate(s) the nodes' TLS certificates
	// are verified against (every connection uses TLS then, the tasks'
	// too); "" connects in plain.
	CA string
	// Replicas is how many nodes hold the run's stream and bucket; 0 is
	// DefaultReplicas.
	Replicas int
}

// DefaultReplicas is ExternalConfig.Replicas when it is 0: the run loses
// nothing while one node of three is down.
const DefaultReplicas = 3

// ExternalStreamName is the name of a run's event stream on a cluster:
// the cluster holds many runs' streams, each named by its run key.
func ExternalStreamName(runKey string) string { return "TH_" + runKey + "_EVENTS" }

// externalNames is what the hub reads of an ExternalConfig: the host's
// and the issuer's keys, and the nodes' URLs.
type externalNames struct {
	urls   []string
	host   nkeys.KeyPair
	issuer nkeys.KeyPair
	opts   []nats.Option // TLS, if the config has a CA
}

func readExternal(c *ExternalConfig) (*externalNames, error) {
	var e externalNames
	for _, u := range strings.Split(c.URLs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			e.urls = append(e.urls, u)
		}
	}
	if len(e.urls) == 0 {
		return nil, errors.New("no cluster URLs")
	}
	var err error
	if e.host, err = nkeys.FromSeed(c.HostSeed); err != nil {
		return nil, fmt.Errorf("the host's seed: %w", err)
	}
	if p, _ := e.host.PublicKey(); !nkeys.IsValidPublicUserKey(p) {
		return nil, errors.New("the host's seed is not a user nkey's (SU...)")
	}
	if e.issuer, err = nkeys.FromSeed(c.IssuerSeed); err != nil {
		return nil, fmt.Errorf("the issuer's seed: %w", err)
	}
	if p, _ := e.issuer.PublicKey(); !nkeys.IsValidPublicAccountKey(p) {
		return nil, errors.New("the issuer's seed is not an account nkey's (SA...)")
	}
	if c.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, errors.New("the CA holds no PEM certificate")
		}
		e.opts = append(e.opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	return &e, nil
}

// connect opens a connection of the host's user to the cluster, trying
// the nodes in the order urls gives (first of all the first), and
// reconnecting for as long as the hub runs.
func (e *externalNames) connect(name string, urls []string) (*nats.Conn, error) {
	pub, _ := e.host.PublicKey()
	opts := append(slices.Clone(e.opts),
		nats.Nkey(pub, e.host.Sign),
		nats.Name(name),
		nats.DontRandomize(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.Timeout(5*time.Second),
	)
	return nats.Connect(strings.Join(urls, ","), opts...)
}

// startExternal connects the hub to the cluster and starts the callout
// service, in place of the embedded server.
func (h *Hub) startExternal(cfg Config) error {
	e, err := readExternal(cfg.External)
	if err != nil {
		return fmt.Errorf("hub: cluster: %w", err)
	}
	h.external = cfg.External
	h.replicas = cmp.Or(cfg.External.Replicas, DefaultReplicas)
	h.streamName = ExternalStreamName(h.runKey)
	h.url = strings.Join(e.urls, ",")
	if cfg.Agents != nil {
		if h.agents, err = newAgentNet(*cfg.Agents, h.log.Named("agents"), h.agentUser, true); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		h.auth.agentNet = h.agents
	}
	if h.nc, err = e.connect("taskhost host", e.urls); err != nil {
		return fmt.Errorf("hub: connect to the cluster: %w", err)
	}
	if err := h.startCallout(e); err != nil {
		h.nc.Close()
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// disconnect closes the connections of ids, on the embedded server. On a
// cluster, the host cannot close a client's connection: a token revoked
// is refused at the connection's next connect, and the ledger takes
// nothing of a sealed attempt's, whatever its processes still send.
func (h *Hub) disconnect(ids []uint64) {
	if h.srv == nil {
		return
	}
	for _, id := range ids {
		_ = h.srv.DisconnectClientByID(id)
	}
}

// consumeOpts are the options of the host's reading of the stream. On a
// cluster, its consumer is lost with the node that leads the stream: a
// heartbeat of a second makes the reading notice, and start again where
// it was, at once rather than after the default's 30 s.
func (h *Hub) consumeOpts() []jetstream.PullConsumeOpt {
	opts := []jetstream.PullConsumeOpt{jetstream.PullMaxBytes(readAheadBytes)}
	if h.external != nil {
		opts = append(opts, jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second))
	}
	return opts
}
