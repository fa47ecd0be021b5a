// Package packtest serves packs in the test process, for unit tests of
// the host's execution (host/attempt, host/runner): a Starter that serves
// an sdk.Set over an in-process gRPC connection (go-plugin's
// TestPluginGRPCConn with the SDK's pack server, as sdk/sdktest does)
// instead of starting its binary. Real pack binaries are for e2e.
package packtest
