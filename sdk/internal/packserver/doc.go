// Package packserver serves a pack to the host that started it: the
// process's set-up (Serve: a private socket directory, the watch on the
// host), go-plugin's handshake and services, served without go-plugin
// (plugin.go), and the gRPC pack service that turns Describe and Run
// calls into the pack's Go calls (New). packconn connects to that service
// in-process, for sdk/sdktest.
package packserver
