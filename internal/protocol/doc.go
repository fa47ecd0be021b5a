// Package protocol is the go-plugin plumbing shared by the host and the SDK:
// the handshake, the versioned plugin sets, and the gRPC glue for the pack
// service. Neither task authors nor host packages outside launch see gRPC.
package protocol
