package protocol

import (
	"github.com/hashicorp/go-plugin"

	"github.com/taskhost/taskhost/internal/proto/packv1"
)

// The transport is part of the protocol: a host and a pack that agree on
// a version must also agree on how the connection is made. Today both
// speak plain gRPC on a Unix socket in a private directory (no TLS), in
// every version they list.
//
// Development builds of the host once dialled the pack over mutual TLS,
// with key pairs they handed the pack in TLSHostEnv, still calling it
// version 1. A pack of today serving version 1 to such a host would
// answer in plain text, and the host would fail with "tls: first record
// does not look like a TLS handshake". Such a host is offered no
// version it speaks instead (ServedPluginSets), so that it reports the
// versions of both sides.

// TLSHostEnv is where a host that dials its packs over TLS hands them the
// key pair to serve with. This SDK does not serve over TLS.
const TLSHostEnv = "TASKHOST_PACK_TLS"

// ServedPluginSets returns the plugin sets a pack serves to the host that
// started it: PluginSets(impl), without version 1 for a host that hands
// the pack TLS material (TLSHostEnv). Such a host speaks version 1 over
// TLS only; offered none of its versions, it reports "Incompatible API
// version with plugin. Plugin version: 2, Client versions: [1]" rather
// than a TLS error.
func ServedPluginSets(getenv func(string) string, impl packv1.PackServer) map[int]plugin.PluginSet {
	sets := PluginSets(impl)
	if getenv(TLSHostEnv) != "" {
		delete(sets, 1)
	}
	return sets
}
