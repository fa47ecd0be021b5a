// Package packserver serves a pack to the host that started it: the
// process's set-up for go-plugin (Serve: the handshake, a private socket
// directory, the watch on the host), the gRPC pack service that turns
// Describe and Run calls into the pack's Go calls (New), and an
// in-process connection to that service for sdk/sdktest (Connect).
package packserver
