package hub

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/internal/statekv"
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

// clusterAPIWait bounds each JetStream request to a cluster (apiRetry).
const clusterAPIWait = 3 * time.Second

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
	// Where the run's record is, for a replay after the host died.
	if err := writeClusterRecord(cfg.StoreDir, ClusterRecord{RunKey: h.runKey, URLs: h.url, Stream: h.streamName,
		Bucket: statekv.Bucket(h.runKey)}); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
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
	if h.agents != nil {
		if err := h.watchClusterAgents(); err != nil {
			h.closeCallout()
			h.nc.Close()
			return fmt.Errorf("hub: the agents' heartbeats: %w", err)
		}
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
		opts = append(opts, jetstream.PullExpiry(5*time.Second), jetstream.PullHeartbeat(time.Second),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				h.log.Debug("reading the run's stream", "error", err)
			}))
	}
	return opts
}

// ClusterRecordFile is the file, in the StoreDir of a hub on a cluster
// (the run directory's hub/), that says where the run's record is:
// ReplayCluster reads it.
const ClusterRecordFile = "hub.json"

// ClusterRecord is what ClusterRecordFile holds.
type ClusterRecord struct {
	RunKey string `json:"run_key"`
	// URLs are the nodes' URLs the hub connected to.
	URLs string `json:"urls"`
	// Stream and Bucket are the run's event stream and state bucket.
	Stream string `json:"stream"`
	Bucket string `json:"bucket"`
}

// writeClusterRecord writes the run's ClusterRecordFile into dir.
func writeClusterRecord(dir string, rec ClusterRecord) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+ClusterRecordFile)
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ClusterRecordFile))
}

// ReadClusterRecord reads the ClusterRecordFile in storeDir; an error that
// wraps fs.ErrNotExist if there is none (the run's hub was embedded).
func ReadClusterRecord(storeDir string) (*ClusterRecord, error) {
	b, err := os.ReadFile(filepath.Join(storeDir, ClusterRecordFile))
	if err != nil {
		return nil, err
	}
	var rec ClusterRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(storeDir, ClusterRecordFile), err)
	}
	if rec.Stream == "" || rec.Bucket == "" {
		return nil, fmt.Errorf("%s: no stream or bucket named", filepath.Join(storeDir, ClusterRecordFile))
	}
	return &rec, nil
}

// ReplayCluster is Replay for a run whose hub was on a cluster: it reads
// the run's stream and state bucket that storeDir's ClusterRecordFile
// names, on the cluster, connecting as ext's host (at ext.URLs, or if
// "", at the URLs the record has).
func ReplayCluster(storeDir string, ext ExternalConfig) (*Record, error) {
	rec, err := ReadClusterRecord(storeDir)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if ext.URLs == "" {
		ext.URLs = rec.URLs
	}
	e, err := readExternal(&ext)
	if err != nil {
		return nil, fmt.Errorf("replay: cluster: %w", err)
	}
	nc, err := e.connect("taskhost replay", e.urls)
	if err != nil {
		return nil, fmt.Errorf("replay: connect to the cluster: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return replay(js, rec.Stream, rec.Bucket, fmt.Sprintf("%s on the cluster", rec.Stream), clusterAPIWait)
}

// apiRetry calls f with ctx, bounded to each for each call, and again
// while it fails for want of an answer, until ctx ends; each 0 calls f
// once with ctx. A cluster drops a JetStream request made while it
// elects a leader (the node that led went down): it is never answered,
// and a request waiting for its answer until ctx ends would wait in vain.
func apiRetry(ctx context.Context, each time.Duration, f func(context.Context) error) error {
	if each == 0 {
		return f(ctx)
	}
	for {
		actx, cancel := context.WithTimeout(ctx, each)
		err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !unanswered(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// unanswered tells an error of a request that had no answer.
func unanswered(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

// replayBucket reads the state's record from the run's bucket on a
// cluster.
func replayBucket(ctx context.Context, js jetstream.JetStream, bucket string, each time.Duration) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	var kv jetstream.KeyValue
	err := apiRetry(ctx, each, func(ctx context.Context) (err error) {
		kv, err = js.KeyValue(ctx, bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("replay: the state's record: %w", err)
	}
	var keys []string
	err = apiRetry(ctx, each, func(ctx context.Context) error {
		l, err := kv.ListKeys(ctx)
		if err != nil {
			return err
		}
		keys = keys[:0]
		for k := range l.Keys() {
			keys = append(keys, k)
		}
		return ctx.Err() // the list ended early if ctx did
	})
	if err != nil {
		return nil, fmt.Errorf("replay: the state's record: %w", err)
	}
	for _, k := range keys {
		if strings.HasPrefix(k, statekv.Reserved) {
			continue
		}
		var e jetstream.KeyValueEntry
		err := apiRetry(ctx, each, func(ctx context.Context) (err error) {
			e, err = kv.Get(ctx, k)
			return err
		})
		if err != nil {
			if errors.Is(err, jetstream.ErrKeyNotFound) {
				continue // deleted since listed
			}
			return nil, fmt.Errorf("replay: the state's record: %w", err)
		}
		var env statekv.Envelope
		if json.Unmarshal(e.Value(), &env) == nil && env.V != nil {
			out[k] = env.V
		}
	}
	return out, nil
}

// apiWait is how long the hub waits for the answer to one JetStream
// request: on a cluster, clusterAPIWait; else 0 (as long as its context says).
func (h *Hub) apiWait() time.Duration {
	if h.external != nil {
		return clusterAPIWait
	}
	return 0
}
