// Package packconn connects to a pack served in this process over real
// gRPC, through go-plugin's in-process connection, as sdk/sdktest uses it.
// It is apart from packserver so that a pack's binary does not carry
// go-plugin and the testing package.
package packconn

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/packserver"
)

// Conn is a connection to a pack served in this process over real gRPC
// (go-plugin's in-process connection), as sdk/sdktest uses it: the calls
// a host makes, in Go terms.
type Conn struct {
	client *plugin.GRPCClient
	pc     packv1.PackClient
}

// Connect serves p in this process, logging the calls it runs to logger,
// and connects to it. Close the Conn when done; it fails t if the pack
// cannot be reached.
func Connect(t testing.TB, p pack.Pack, logger hclog.Logger) *Conn {
	t.Helper()
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		protocol.PluginName: &protocol.PackPlugin{Impl: packserver.New(p, logger)},
	})
	raw, err := client.Dispense(protocol.PluginName)
	if err != nil {
		t.Fatalf("dispense the pack: %v", err)
	}
	return &Conn{client: client, pc: raw.(packv1.PackClient)}
}

// Close closes the connection, and shuts the server down.
func (c *Conn) Close() { c.client.Close() }

// Describe asks the pack for its description.
func (c *Conn) Describe(ctx context.Context) (pack.Description, error) {
	resp, err := c.pc.Describe(ctx, &packv1.DescribeRequest{})
	if err != nil {
		return pack.Description{}, err
	}
	return packserver.DescribeFromWire(resp), nil
}

// Run is one call of a task, as a host makes it.
type Run struct {
	Task     string
	ArgsJSON []byte
	RunID    string
	TaskID   string
	Attempt  int
	// Hub is the task's access to the hub, as the hub gives it.
	Hub      *packv1.Hub
	Deadline time.Time
}

// Reply is what a Run call answered.
type Reply struct {
	// Result is the task's result, by name ("passed").
	Result string
	Reason string
	// LastSeq is the number of the task's last event stored by the hub.
	LastSeq uint64
}

// Run runs a task and returns the pack's answer.
func (c *Conn) Run(ctx context.Context, r Run) (Reply, error) {
	resp, err := c.pc.Run(ctx, &packv1.RunRequest{
		Task: r.Task, ArgsJson: r.ArgsJSON, RunId: r.RunID, TaskId: r.TaskID, Attempt: int32(r.Attempt),
		Hub: r.Hub, DeadlineUnixNano: r.Deadline.UnixNano(),
	})
	return Reply{Result: resp.GetResult(), Reason: resp.GetReason(), LastSeq: resp.GetLastSeq()}, err
}
