// Package protocol is the host's go-plugin plumbing for the pack
// protocol: the handshake, the versioned plugin sets, and the gRPC glue
// for the pack service. What a pack process needs of the protocol is in
// wire, which imports no go-plugin; the SDK serves go-plugin's handshake
// itself. Neither task authors nor host packages outside launch see gRPC.
package protocol
