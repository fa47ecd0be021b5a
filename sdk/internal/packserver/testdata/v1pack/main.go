// Command v1pack is a pack for taskhost's own tests that speaks only pack
// protocol 1, as a pack built with an SDK older than protocol 2 does: it
// serves version 1 alone and describes itself so. Its tasks run on this
// SDK's runtime, which is the same for both versions. host/launch's tests
// build it.
package main

import (
	"context"
	"os"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol"
	"github.com/taskhost/taskhost/sdk"
	"github.com/taskhost/taskhost/sdk/internal/pack"
	"github.com/taskhost/taskhost/sdk/internal/packserver"
)

// v1 is the SDK's pack service, describing itself as speaking version 1
// only.
type v1 struct{ packv1.PackServer }

func (s v1) Describe(ctx context.Context, req *packv1.DescribeRequest) (*packv1.DescribeResponse, error) {
	d, err := s.PackServer.Describe(ctx, req)
	if d != nil {
		d.ProtocolVersions = []int32{1}
	}
	return d, err
}

func main() {
	s := sdk.NewSet("v1pack", "1.0.0")
	sdk.Register(s, "pass", "Passes.", func(t *sdk.T, _ sdk.NoArgs) { t.Step("ok", func(t *sdk.T) {}) })
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: os.Stderr})
	// The SDK keeps os.Stdout off the handshake's stdout until it serves;
	// this pack serves by itself, on fd 1.
	os.Stdout = os.NewFile(1, "stdout")
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: protocol.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			1: {protocol.PluginName: &protocol.PackPlugin{Impl: v1{packserver.New(pack.FromSet(s), logger)}}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}
