package protocol

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/taskhost/taskhost/internal/proto/packv1"
)

// Version is the newest pack protocol version this build speaks.
const Version = 1

// Versions lists every pack protocol version this build speaks.
var Versions = []int{1}

// PluginName is the one plugin a pack serves.
const PluginName = "pack"

// Handshake is shared by host and packs. The cookie is not a secret: it only
// tells a pack binary that a host started it, and tells a user who runs a
// pack by hand that it is not meant to be run as a plugin that way.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  Version,
	MagicCookieKey:   "TASKHOST_PACK_PLUGIN",
	MagicCookieValue: "3f0c9a1e6b7d4c2a",
}

// Started reports whether this process was started by a host as a plugin.
func Started(getenv func(string) string) bool {
	return getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue
}

// PluginSets returns the versioned plugin sets for a pack served by impl
// (impl may be nil on the host side).
func PluginSets(impl packv1.PackServer) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {PluginName: &PackPlugin{Impl: impl}},
	}
}

// PackPlugin is the go-plugin Plugin for the pack service. It speaks gRPC only.
type PackPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	Impl packv1.PackServer
}

var _ plugin.GRPCPlugin = (*PackPlugin)(nil)

// GRPCServer registers the pack service.
func (p *PackPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	packv1.RegisterPackServer(s, p.Impl)
	return nil
}

// GRPCClient returns a packv1.PackClient.
func (p *PackPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return packv1.NewPackClient(c), nil
}
