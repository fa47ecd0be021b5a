package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/taskhost/taskhost/host/hub"
	"github.com/taskhost/taskhost/host/lab"
)

func newHubCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "Run the hub on a NATS cluster: the config its nodes need (config)",
		Long: `A run's hub may run on a NATS cluster (nats-server, three nodes or more,
with JetStream) rather than inside the host: 'taskhost run --hub
nats://a:4222,nats://b:4222,nats://c:4222 JOBFILE'. Its stream is
replicated: a node may go down during the run and nothing is lost. Each
node's config needs the authorization block 'taskhost hub config' prints.
See docs/cluster.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newHubConfigCmd(stdout))
	return cmd
}

func newHubConfigCmd(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the authorization block for every node of the cluster (making the lab's host and issuer keys once)",
		Long: `Print the authorization block to put in the config of every node of the
NATS cluster the hub runs on: the host's user (host.seed in the lab
directory), which may do anything, and the auth callout through which
the host admits its tasks and agents, its users signed by the issuer key
(issuer.seed). The keys are made the first time. Hosts that share a
cluster share the issuer key: copy issuer.seed into each one's lab, and
list each host's key in users and auth_users.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				dir = lab.DefaultDir()
			}
			keys, err := lab.ClusterKeys(dir)
			if err != nil {
				return &exitError{exitFailure, err}
			}
			fmt.Fprintf(stdout, "# taskhost host %s, lab %s\n", keys.HostPub, dir)
			fmt.Fprint(stdout, hub.ClusterConfig([]string{keys.HostPub}, keys.IssuerPub))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "lab", "", "the lab directory (default $TASKHOST_LAB, else ~/.config/taskhost/lab)")
	return cmd
}
