// Command otherproto is a pack for taskhost's own tests that speaks only a
// pack protocol version the host does not know (99).
package main

import (
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/protocol"
)

func main() {
	hs := protocol.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]plugin.PluginSet{99: protocol.PluginSets(nil)[1]},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
