package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/launch"
)

// ServeConfig configures Serve. Zero values of the optional fields are
// fine.
type ServeConfig struct {
	// URL is the hub's address as this machine reaches it
	// ("tls://host:4222"; several, comma-separated, for a cluster);
	// required. The agent's tasks reach the hub there too.
	URL string
	// Seed is the agent's nkey seed (`taskhost agent add`); required.
	Seed []byte
	// CA is the PEM certificate(s) the hub's TLS certificate is verified
	// against, for the agent and its tasks; "" connects without TLS,
	// which the hub allows from loopback only.
	CA string
	// Name is the agent's name, as the host's agents file has it;
	// required.
	Name string
	// Labels are what the agent carries for placements. Its os and arch
	// are added; giving them with other values is an error.
	Labels map[string]string
	// Slots is how many packs it runs at once; 0 is 1.
	Slots int
	// CacheDir keeps the pack binaries it fetched, by hash; required.
	CacheDir string
	// SocketDir is where its packs' sockets and its state sockets go;
	// "" is the temporary directory.
	SocketDir string
	// HostTimeout is how long it runs a run's packs without hearing the
	// host; 0 is 5s.
	HostTimeout time.Duration
	// Supervisor, if set, keeps every process of its packs.
	Supervisor *launch.Supervisor
	// Logger gets the agent's messages; nil discards them.
	Logger hclog.Logger
	// Faults are for taskhost's own tests.
	Faults Faults
}

// PlatformLabels adds the machine's os and arch to labels (a copy), or
// says why labels contradict them.
func PlatformLabels(labels map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range labels {
		out[k] = v
	}
	for k, v := range map[string]string{"os": runtime.GOOS, "arch": runtime.GOARCH} {
		if w, ok := out[k]; ok && w != v {
			return nil, fmt.Errorf("label %s=%s: this machine is %s=%s (the agent adds its os and arch itself)", k, w, k, v)
		}
		out[k] = v
	}
	return out, nil
}

// Serve connects to the hub at URL and serves the run it finds there,
// then the next, until ctx ends. A run's hub is the host's, one per run:
// when the agent finds another server at URL, the run it served is over
// (its packs are killed) and it asks the new one which run it serves. On
// a NATS cluster, which outlives the runs whose hubs it holds, any node is
// the same hub: a run is over when its host is no longer heard, and the
// agent then connects again, for the next run's host to admit it.
// It returns when ctx ends, or at once if its configuration is wrong.
func Serve(ctx context.Context, cfg ServeConfig) error {
	if cfg.URL == "" || cfg.Name == "" || len(cfg.Seed) == 0 || cfg.CacheDir == "" {
		return errors.New("agent: URL, Name, Seed and CacheDir are required")
	}
	if err := agentwire.CheckName("agent", cfg.Name); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	labels, err := PlatformLabels(cfg.Labels)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	kp, err := nkeys.FromSeed(cfg.Seed)
	if err != nil {
		return fmt.Errorf("agent: the key: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		return fmt.Errorf("agent: the key is not a user's nkey seed (taskhost agent add makes one)")
	}
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if cfg.Slots == 0 {
		cfg.Slots = 1
	}
	changed := make(chan struct{}, 1) // a (re)connection: maybe another run's hub
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	opts := []nats.Option{
		nats.Nkey(pub, kp.Sign),
		nats.Name(agentwire.ConnName(cfg.Name, labels)),
		nats.CustomInboxPrefix(agentwire.AgentInbox(cfg.Name)),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.IgnoreAuthErrorAbort(),
		// Nothing is kept to send while it is cut off: what it reports
		// is sent again until answered, and an old heartbeat or claim
		// must not reach the next run's hub.
		nats.ReconnectBufSize(-1),
		nats.ConnectHandler(func(*nats.Conn) { poke() }),
		nats.ReconnectHandler(func(*nats.Conn) { poke() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Info("disconnected from the hub", "error", err)
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Warn("hub error", "error", err)
		}),
	}
	if cfg.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(cfg.CA)) {
			return errors.New("agent: the CA file holds no PEM certificate")
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	defer nc.Close()
	log.Info("agent up", "name", cfg.Name, "hub", cfg.URL, "labels", agentwire.FormatLabels(labels), "slots", cfg.Slots)

	refused := ""
	for ctx.Err() == nil {
		if !nc.IsConnected() {
			if e := nc.LastError(); e != nil && e.Error() != refused {
				refused = e.Error()
				log.Warn("not connected to the hub", "error", e)
			}
			select {
			case <-ctx.Done():
			case <-changed:
			case <-time.After(time.Second):
			}
			continue
		}
		refused = ""
		server, cluster := nc.ConnectedServerId(), nc.ConnectedClusterName()
		rep, err := hello(ctx, nc, cfg)
		if err != nil {
			log.Debug("no run answers on this hub yet", "error", err)
			sleep(ctx, time.Second)
			reconnectOnCluster(nc, cluster)
			continue
		}
		if rep.Error != "" {
			log.Warn("the hub refuses the agent", "reason", rep.Error)
			sleep(ctx, 5*time.Second)
			reconnectOnCluster(nc, cluster)
			continue
		}
		runCtx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the run is over when the agent is on another hub
			defer wg.Done()
			defer cancel()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-changed:
					if nc.IsConnected() && !sameHub(nc, server, cluster) {
						return
					}
				}
			}
		}()
		if cluster != "" {
			// A cluster outlives the run: the run is over when its host
			// is no longer heard.
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer cancel()
				hostGone(runCtx, nc, cfg, rep.RunKey)
			}()
		}
		if len(rep.Classes) == 0 {
			log.Info("the run has no work for this agent's labels; waiting for the next", "run", rep.RunKey)
			<-runCtx.Done()
		} else {
			log.Info("serving a run", "run", rep.RunKey, "classes", len(rep.Classes))
			err = Run(runCtx, Config{Conn: nc, Name: cfg.Name, RunKey: rep.RunKey, Classes: rep.Classes, Slots: cfg.Slots,
				CacheDir: cfg.CacheDir, Heartbeat: 0, HostTimeout: cfg.HostTimeout, SocketDir: cfg.SocketDir,
				Supervisor: cfg.Supervisor, Logger: log.With("run", rep.RunKey), Faults: cfg.Faults, TaskURL: cfg.URL, CA: cfg.CA})
			if err != nil {
				log.Warn("serving the run failed", "run", rep.RunKey, "error", err)
			} else {
				log.Info("the run's hub is gone; its packs are stopped", "run", rep.RunKey)
			}
		}
		cancel()
		wg.Wait()
		// On a cluster, the connection's permissions are the run's: the
		// next run's host admits the agent at its next connect.
		reconnectOnCluster(nc, cluster)
	}
	return nil
}

// sameHub says whether nc is on the hub it was on when it was on server
// of cluster: the same server, or another node of the same cluster (a
// hub on a cluster; "" is a server alone, each run's own).
func sameHub(nc *nats.Conn, server, cluster string) bool {
	return nc.ConnectedServerId() == server || cluster != "" && nc.ConnectedClusterName() == cluster
}

// reconnectOnCluster connects nc again if it was on a cluster, so that the
// cluster asks a host to admit it anew.
func reconnectOnCluster(nc *nats.Conn, cluster string) {
	if cluster != "" && nc.IsConnected() {
		_ = nc.ForceReconnect()
	}
}

// hostGone returns when the host of run runKey has not been heard for
// HostTimeout and does not answer a hello with that run, or when ctx
// ends. (A host beats from when it has its agents: a host still waiting
// for more is not heard, but answers.)
func hostGone(ctx context.Context, nc *nats.Conn, cfg ServeConfig, runKey string) {
	timeout := cfg.HostTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	var mu sync.Mutex
	last := time.Now()
	heard := func() {
		mu.Lock()
		last = time.Now()
		mu.Unlock()
	}
	sub, err := nc.Subscribe(agentwire.Names{RunKey: runKey}.HostHeartbeat(), func(*nats.Msg) { heard() })
	if err == nil {
		defer func() { _ = sub.Unsubscribe() }()
	}
	t := time.NewTicker(timeout / 5)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mu.Lock()
		silent := time.Since(last)
		mu.Unlock()
		if silent <= timeout {
			continue
		}
		rep, err := hello(ctx, nc, cfg)
		if err != nil || rep.Error != "" || rep.RunKey != runKey {
			return
		}
		heard()
	}
}

// hello asks the hub which run it serves, and which of its work is the
// agent's.
func hello(ctx context.Context, nc *nats.Conn, cfg ServeConfig) (agentwire.HelloReply, error) {
	var rep agentwire.HelloReply
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	m, err := nc.RequestWithContext(ctx, agentwire.HelloSubject(cfg.Name),
		agentwire.Encode(agentwire.Hello{Version: agentwire.Version, Slots: cfg.Slots}))
	if err != nil {
		return rep, err
	}
	return rep, agentwire.Decode(m.Data, &rep)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
