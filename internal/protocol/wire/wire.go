// Package wire is what a pack process needs of the pack protocol: the
// handshake's constants, the versions, and gRPC's codec for the pack
// protocol's messages. It imports no go-plugin: a pack serves the
// handshake itself (sdk/internal/packserver), and the host's side of
// go-plugin is in the parent package, protocol.
package wire

// Version is the newest pack protocol version this build speaks.
//
// Version 2 added Hub.tls_ca_pem: a task reaches the hub over TLS,
// verifying it against that CA (a task on an agent). A change of what a
// message means to its reader (here: a field whose absence changes what
// the pack does) is a new version, and so is a change of the transport
// or the encoding; the host and the SDK speak every version they list,
// and the highest both speak is agreed on. See docs/protocol.md, "What is
// an incompatible change".
const Version = 2

// HubTLSVersion is the first version whose packs can reach a hub over
// TLS (Hub.tls_ca_pem): a pack that does not speak it cannot run on an
// agent.
const HubTLSVersion = 2

// Versions lists every pack protocol version this build speaks, oldest
// first. A host offers them all; a pack serves them all.
var Versions = []int{1, 2}

// CoreVersion is go-plugin's own protocol version, the first field of
// the handshake line.
const CoreVersion = 1

// PluginName is the one plugin a pack serves.
const PluginName = "pack"

// The magic cookie is not a secret: it only tells a pack binary that a
// host started it, and tells a user who runs a pack by hand that it is
// not meant to be run as a plugin that way.
const (
	CookieKey   = "TASKHOST_PACK_PLUGIN"
	CookieValue = "3f0c9a1e6b7d4c2a"
)

// Started reports whether this process was started by a host as a plugin.
func Started(getenv func(string) string) bool {
	return getenv(CookieKey) == CookieValue
}

// TLSHostEnv is where a host that dials its packs over TLS hands them the
// key pair to serve with. This SDK does not serve over TLS.
//
// Development builds of the host once dialled the pack over mutual TLS,
// with key pairs they handed the pack here, still calling it version 1.
// A pack of today serving version 1 to such a host would answer in plain
// text, and the host would fail with "tls: first record does not look
// like a TLS handshake". Such a host is offered no version it speaks
// instead (ServedVersions), so that it reports the versions of both
// sides.
const TLSHostEnv = "TASKHOST_PACK_TLS"

// ServedVersions returns the versions a pack serves to the host that
// started it: Versions, without version 1 for a host that hands the pack
// TLS material (TLSHostEnv). Such a host speaks version 1 over TLS only;
// offered none of its versions, it reports "Incompatible API version with
// plugin. Plugin version: 2, Client versions: [1]" rather than a TLS
// error.
func ServedVersions(getenv func(string) string) []int {
	vs := append([]int(nil), Versions...)
	if getenv(TLSHostEnv) != "" {
		vs = slicesDelete(vs, 1)
	}
	return vs
}

func slicesDelete(vs []int, v int) []int {
	out := vs[:0]
	for _, x := range vs {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}
