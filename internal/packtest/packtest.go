package packtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/host/attempt"
	"github.com/taskhost/taskhost/internal/packwire"
	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/internal/sdkhook"
	"github.com/taskhost/taskhost/sdk"
)

// Starter serves the packs of a test in-process: Start serves
// Packs[c.Pack] on a connection of its own, as a host starts a pack
// process per call. A pack it does not have fails to start.
type Starter struct {
	T     testing.TB
	Packs map[string]*sdk.Set
}

// Start serves the call's pack, unless ctx has ended (as a pack binary's
// start stops); out is unused: nothing is written before the pack serves.
func (s Starter) Start(ctx context.Context, c attempt.Call, _ io.Writer) (attempt.Pack, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("pack %s not started: %w", c.Pack, context.Cause(ctx))
	}
	set := s.Packs[c.Pack]
	if set == nil {
		return nil, fmt.Errorf("pack %s not served in this test", c.Pack)
	}
	pc, closeConn := connect(s.T, set)
	return &Pack{pc: pc, close: closeConn, gone: make(chan struct{})}, nil
}

// connect serves set over an in-process gRPC connection and returns its
// client; closeConn closes the connection, which shuts the server down.
func connect(t testing.TB, set *sdk.Set) (pc packv1.PackClient, closeConn func()) {
	impl := sdkhook.NewServer(set, hclog.NewNullLogger())
	client, _ := plugin.TestPluginGRPCConn(t, false, map[string]plugin.Plugin{
		protocol.PluginName: &protocol.PackPlugin{Impl: impl},
	})
	raw, err := client.Dispense(protocol.PluginName)
	if err != nil {
		client.Close()
		t.Fatalf("packtest: dispense the pack: %v", err)
	}
	return raw.(packv1.PackClient), func() { client.Close() }
}

// Describe asks set for its description, as the host asks a pack.
func Describe(t testing.TB, set *sdk.Set) *packwire.Description {
	t.Helper()
	pc, closeConn := connect(t, set)
	defer closeConn()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := pc.Describe(ctx, &packv1.DescribeRequest{})
	if err != nil {
		t.Fatalf("packtest: describe: %v", err)
	}
	desc, err := packwire.FromDescribe(d)
	if err != nil {
		t.Fatalf("packtest: describe: %v", err)
	}
	return desc
}

// Pack is a pack served in the test process. Killing it closes its
// connection; it has no process of its own, so its PID is the test's.
type Pack struct {
	pc    packv1.PackClient
	close func()
	once  sync.Once
	gone  chan struct{}
}

// PID is the test process's id.
func (p *Pack) PID() int { return os.Getpid() }

// Run makes the call. It has no log directory, nor the terminal: the
// SDK would make either the test process's own.
func (p *Pack) Run(ctx context.Context, c attempt.Call) (attempt.Reply, error) {
	c.LogDir, c.Interactive = "", false
	return packwire.Run(ctx, func(ctx context.Context, req *packv1.RunRequest) (*packv1.RunResponse, error) {
		return p.pc.Run(ctx, req)
	}, c)
}

// WaitExit says the pack ended ("killed") once it was killed, waiting up
// to d for that.
func (p *Pack) WaitExit(d time.Duration) (string, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.gone:
		return "killed", true
	case <-t.C:
		return "", false
	}
}

// KillNow closes the pack's connection.
func (p *Pack) KillNow() { p.Kill() }

// Kill closes the pack's connection.
func (p *Pack) Kill() {
	p.once.Do(func() {
		p.close()
		close(p.gone)
	})
}
