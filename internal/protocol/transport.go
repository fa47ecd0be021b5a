package protocol

import (
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/proto/packv1"
	"github.com/taskhost/taskhost/internal/protocol/wire"
)

// The transport is part of the protocol: a host and a pack that agree on
// a version must also agree on how the connection is made. Today both
// speak plain gRPC on a Unix socket in a private directory (no TLS), in
// every version they list (wire.TLSHostEnv tells of the development
// builds that did otherwise).

// TLSHostEnv is where a host that dials its packs over TLS hands them the
// key pair to serve with. This SDK does not serve over TLS.
const TLSHostEnv = wire.TLSHostEnv

// ServedPluginSets returns the plugin sets a go-plugin server serves to
// the host that started it: PluginSets(impl), for the versions of
// wire.ServedVersions (without version 1 for a host that hands the pack
// TLS material). The SDK serves those versions without go-plugin; this
// is for packs and tests that serve through go-plugin itself.
func ServedPluginSets(getenv func(string) string, impl packv1.PackServer) map[int]plugin.PluginSet {
	sets := PluginSets(impl)
	served := wire.ServedVersions(getenv)
	for v := range sets {
		keep := false
		for _, s := range served {
			keep = keep || s == v
		}
		if !keep {
			delete(sets, v)
		}
	}
	return sets
}
