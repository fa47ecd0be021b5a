package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/agent"
	"github.com/taskhost/taskhost/host/agentwire"
	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/lab"
	"github.com/taskhost/taskhost/host/launch"
	"github.com/taskhost/taskhost/host/runner"
)

// agentFlags open a run (or validate) to taskhost agents.
type agentFlags struct {
	listen string
	lab    string
	wait   time.Duration
	// hub and hubCA run the hub on a NATS cluster (run only).
	hub, hubCA string
}

func (o *agentFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.listen, "listen", "", "let taskhost agents in: the hub listens on this address (\":4222\"), with TLS for every client not on loopback (docs/agents.md)")
	cmd.Flags().StringVar(&o.lab, "lab", "", "the lab directory: the hub's certificate and the admitted agents (default $TASKHOST_LAB, else ~/.config/taskhost/lab)")
	cmd.Flags().DurationVar(&o.wait, "agent-wait", 0, fmt.Sprintf("how long to wait for agents that can run every placement before refusing the ones none can (default %s)", runner.DefaultAgentWait))
}

func (o *agentFlags) labDir() string {
	if o.lab != "" {
		return o.lab
	}
	return lab.DefaultDir()
}

// addHubFlags adds run's flags for a hub on a NATS cluster.
func (o *agentFlags) addHubFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.hub, "hub", "", "run the hub on a NATS cluster: its nodes' URLs, comma-separated (nats://a:4222,nats://b:4222); the lab's host and issuer keys admit the host and its tasks ('taskhost hub config'; docs/cluster.md)")
	cmd.Flags().StringVar(&o.hubCA, "hub-ca", "", "with --hub: the CA certificate (PEM file) to verify the nodes' TLS certificates against")
}

// hubOptions are the hub's cluster, with --hub; nil without.
func (o *agentFlags) hubOptions() (*hub.ExternalConfig, error) {
	if o.hub == "" {
		if o.hubCA != "" {
			return nil, usageErr(fmt.Errorf("--hub-ca is for a hub on a cluster: add --hub"))
		}
		return nil, nil
	}
	if o.listen != "" {
		return nil, usageErr(fmt.Errorf("--hub and --listen: a hub on a cluster has no listener of its own; agents connect to the cluster's nodes (taskhost agent --hub with their URLs)"))
	}
	return o.clusterKeys()
}

// clusterKeys is the hub's cluster at --hub ("": wherever the record
// says), with the lab's keys and --hub-ca.
func (o *agentFlags) clusterKeys() (*hub.ExternalConfig, error) {
	keys, err := lab.ReadClusterKeys(o.labDir())
	if err != nil {
		return nil, usageErr(err)
	}
	ext := &hub.ExternalConfig{URLs: o.hub, HostSeed: keys.HostSeed, IssuerSeed: keys.IssuerSeed}
	if o.hubCA != "" {
		b, err := os.ReadFile(o.hubCA)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--hub-ca: %w", err))
		}
		ext.CA = string(b)
	}
	return ext, nil
}

// serves says whether the run serves agents: with --listen, or on a
// cluster (--hub), whose nodes the agents connect to.
func (o *agentFlags) serves() bool { return o.listen != "" || o.hub != "" }

// options are the runner's options for agents; nil without --listen or
// --hub.
func (o *agentFlags) options() (*runner.AgentsOptions, error) {
	if o.hub != "" {
		// The agents connect to the cluster's nodes, with its TLS; the
		// host admits them by the lab's agents file.
		return &runner.AgentsOptions{Keys: lab.Keys(o.labDir()), Wait: o.wait}, nil
	}
	if o.listen == "" {
		if o.lab != "" || o.wait != 0 {
			return nil, usageErr(fmt.Errorf("--lab and --agent-wait are for runs that let agents in: add --listen (or --hub)"))
		}
		return nil, nil
	}
	if err := hub.CheckListen(o.listen); err != nil {
		return nil, usageErr(fmt.Errorf("--listen: %w", err))
	}
	dir := o.labDir()
	tlsConf, err := lab.ServerTLS(dir)
	if err != nil {
		return nil, usageErr(err)
	}
	return &runner.AgentsOptions{Listen: o.listen, TLS: tlsConf, Keys: lab.Keys(dir), Wait: o.wait}, nil
}

type agentOptions struct {
	hub, name, key, ca, labels string
	slots                      int
	cacheDir                   string
	hostTimeout                time.Duration
	logLevel                   string
}

func newAgentCmd(stdout, stderr io.Writer) *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run tasks for the hosts of a lab, on this machine; or admit agents (init, add, revoke, list)",
		Long: `Run as a taskhost agent: connect to a host's hub, run the tasks placed on
agents whose labels this one carries, and stay up for the next run. It
stops on SIGINT or SIGTERM, killing the packs it runs.

On the host, 'taskhost agent init' makes the lab directory and the hub's
certificate, 'taskhost agent add NAME' admits an agent and writes its key,
and 'taskhost run --listen :4222 JOBFILE' lets the agents in. See
docs/agents.md.`,
		Example: `  taskhost agent --hub tls://host.example:4222 --name sjc1 --key sjc1.seed \
      --ca hub-cert.pem --labels lab=sjc --slots 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAgent(cmd.Context(), o, stderr)
		},
	}
	cmd.Flags().StringVar(&o.hub, "hub", "", "the host's hub as this machine reaches it (tls://HOST:PORT), or the nodes of the cluster the hosts run their hubs on (their URLs, comma-separated)")
	cmd.Flags().StringVar(&o.name, "name", "", "the agent's name, as 'taskhost agent add' admitted it")
	cmd.Flags().StringVar(&o.key, "key", "", "the agent's key file ('taskhost agent add' wrote it; mode 0600)")
	cmd.Flags().StringVar(&o.ca, "ca", "", "the hub's certificate (the lab's hub-cert.pem) to verify the hub against, or the CA of a cluster's nodes; needed for tls://")
	cmd.Flags().StringVar(&o.labels, "labels", "", "labels for placements: KEY=VALUE,... (os and arch are added)")
	cmd.Flags().IntVar(&o.slots, "slots", 1, "how many tasks to run at once")
	cmd.Flags().StringVar(&o.cacheDir, "cache", "", "where to keep the pack binaries fetched from hosts (default: the user's cache directory, taskhost/agent-NAME)")
	cmd.Flags().DurationVar(&o.hostTimeout, "host-timeout", 5*time.Second, "kill a run's packs when its host has not been heard for this long")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "the least level of the agent's messages on stderr: debug, info, warn, error")
	for _, f := range []string{"hub", "name", "key"} {
		_ = cmd.MarkFlagRequired(f)
	}
	cmd.AddCommand(newAgentInitCmd(stdout), newAgentAddCmd(stdout), newAgentRevokeCmd(stdout), newAgentListCmd(stdout))
	return cmd
}

func runAgent(ctx context.Context, o *agentOptions, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	labels, err := agentwire.ParseLabels(o.labels)
	if err != nil {
		return usageErr(fmt.Errorf("--labels: %w", err))
	}
	if _, err := agent.PlatformLabels(labels); err != nil {
		return usageErr(fmt.Errorf("--labels: %w", err))
	}
	if err := agentwire.CheckName("agent", o.name); err != nil {
		return usageErr(fmt.Errorf("--name: %w", err))
	}
	if o.slots < 1 {
		return usageErr(fmt.Errorf("--slots %d: at least 1", o.slots))
	}
	seed, err := lab.ReadSeed(o.key)
	if err != nil {
		return usageErr(fmt.Errorf("--key: %w", err))
	}
	ca := ""
	if o.ca != "" {
		b, err := os.ReadFile(o.ca)
		if err != nil {
			return usageErr(fmt.Errorf("--ca: %w", err))
		}
		ca = string(b)
	} else if strings.Contains(o.hub, "tls://") {
		return usageErr(fmt.Errorf("--hub %s is reached over TLS: give the hub's certificate with --ca (the lab's %s)", o.hub, lab.CertFile))
	}
	cache := o.cacheDir
	if cache == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return usageErr(fmt.Errorf("no cache directory: give --cache (%v)", err))
		}
		cache = filepath.Join(d, "taskhost", "agent-"+o.name)
	}
	level := hclog.LevelFromString(o.logLevel)
	if level == hclog.NoLevel {
		return usageErr(fmt.Errorf("--log-level %q: debug, info, warn or error", o.logLevel))
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "agent", Level: level, Output: stderr})
	sockets, err := launch.MakeSocketDir(os.Getenv("PLUGIN_UNIX_SOCKET_DIR"))
	if err != nil {
		return &exitError{exitFailure, fmt.Errorf("socket directory: %w", err)}
	}
	defer os.RemoveAll(sockets)
	sup := launch.NewSupervisor(log.Named("procs"))
	defer sup.Close()
	if cg, why := sup.Cgroup(); cg != "" {
		log.Info("process containment", "cgroup", cg)
	} else {
		log.Info("process containment", "cgroup", "none", "reason", why)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = agent.Serve(ctx, agent.ServeConfig{URL: o.hub, Seed: seed, CA: ca, Name: o.name, Labels: labels, Slots: o.slots,
		CacheDir: cache, SocketDir: sockets, HostTimeout: o.hostTimeout, Supervisor: sup, Logger: log})
	if err != nil {
		return &exitError{exitFailure, err}
	}
	log.Info("agent stopped")
	return nil
}

func newAgentInitCmd(stdout io.Writer) *cobra.Command {
	var dir string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "init --host NAME_OR_IP[,...]",
		Short: "Make the lab directory and the hub's TLS certificate, for the names and addresses agents reach this host by",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = lab.DefaultDir()
			}
			made, err := lab.Init(dir, hosts)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			if !made {
				fmt.Fprintf(stdout, "%s has a hub certificate already: kept (remove %s and %s to make another)\n", dir, lab.CertFile, lab.KeyFile)
				return nil
			}
			fmt.Fprintf(stdout, "Made %s and %s in %s.\nCopy %s to each agent's machine (its --ca).\n",
				lab.CertFile, lab.KeyFile, dir, filepath.Join(dir, lab.CertFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "lab", "", "the lab directory (default $TASKHOST_LAB, else ~/.config/taskhost/lab)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "a name or IP address agents reach this host by (repeatable, or comma-separated)")
	_ = cmd.MarkFlagRequired("host")
	return cmd
}

func newAgentAddCmd(stdout io.Writer) *cobra.Command {
	var dir, out string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Admit an agent: make its key, write it to a file for its machine, and add its public key to the lab",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = lab.DefaultDir()
			}
			if out == "" {
				out = filepath.Join(dir, args[0]+".seed")
			}
			pub, err := lab.Add(dir, args[0], out)
			if errors.Is(err, os.ErrExist) {
				return usageErr(fmt.Errorf("%w (the agent's key file is there already: remove it to make a new key, or give --out)", err))
			}
			if err != nil {
				return usageErr(err)
			}
			fmt.Fprintf(stdout, "Admitted agent %s (public key %s).\nIts key is in %s: copy it to the agent's machine (mode 0600), then run there:\n  taskhost agent --hub tls://THIS_HOST:4222 --name %s --key %s --ca %s --labels KEY=VALUE\n",
				args[0], pub, out, args[0], filepath.Base(out), lab.CertFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "lab", "", "the lab directory (default $TASKHOST_LAB, else ~/.config/taskhost/lab)")
	cmd.Flags().StringVar(&out, "out", "", "where to write the agent's key (default LAB/NAME.seed); it must not exist")
	return cmd
}

func newAgentRevokeCmd(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke an agent: a running host closes its connections within a second, and it cannot connect again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = lab.DefaultDir()
			}
			ok, err := lab.Revoke(dir, args[0])
			if err != nil {
				return &exitError{exitFailure, err}
			}
			if !ok {
				return usageErr(fmt.Errorf("no agent %s in %s", args[0], filepath.Join(dir, lab.AgentsFile)))
			}
			fmt.Fprintf(stdout, "Revoked agent %s.\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "lab", "", "the lab directory (default $TASKHOST_LAB, else ~/.config/taskhost/lab)")
	return cmd
}

func newAgentListCmd(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the admitted agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = lab.DefaultDir()
			}
			as, err := lab.Agents(dir)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			for _, a := range as {
				fmt.Fprintf(stdout, "%s\t%s\t%s\n", a.Name, a.PublicKey, a.Added.Format(time.RFC3339))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "lab", "", "the lab directory (default $TASKHOST_LAB, else ~/.config/taskhost/lab)")
	return cmd
}
