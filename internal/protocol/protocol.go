package protocol

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol/wire"
)

// Version is the newest pack protocol version this build speaks
// (wire.Version, which says what each version added).
const Version = wire.Version

// HubTLSVersion is the first version whose packs can reach a hub over
// TLS (Hub.tls_ca_pem): a pack that does not speak it cannot run on an
// agent.
const HubTLSVersion = wire.HubTLSVersion

// Versions lists every pack protocol version this build speaks, oldest
// first. A host offers them all; a pack serves them all.
var Versions = wire.Versions

// PluginName is the one plugin a pack serves.
const PluginName = wire.PluginName

// Handshake is shared by host and packs. The cookie is not a secret: it only
// tells a pack binary that a host started it, and tells a user who runs a
// pack by hand that it is not meant to be run as a plugin that way. Its
// ProtocolVersion is not what is negotiated: both sides give go-plugin
// VersionedPlugins (PluginSets), which it uses instead.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  Version,
	MagicCookieKey:   wire.CookieKey,
	MagicCookieValue: wire.CookieValue,
}

// Started reports whether this process was started by a host as a plugin.
func Started(getenv func(string) string) bool { return wire.Started(getenv) }

// PluginSets returns the versioned plugin sets for a pack served by impl
// (impl may be nil on the host side): one for each of Versions, all the
// same gRPC service. What differs between versions is what the host may
// send (Hub.tls_ca_pem from version 2 on), which the host decides by the
// version negotiated.
func PluginSets(impl packv1.PackServer) map[int]plugin.PluginSet {
	sets := make(map[int]plugin.PluginSet, len(Versions))
	for _, v := range Versions {
		sets[v] = plugin.PluginSet{PluginName: &PackPlugin{Impl: impl}}
	}
	return sets
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
