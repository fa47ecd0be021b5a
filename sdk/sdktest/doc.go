// Package sdktest runs a pack's tasks inside `go test`, as a host would:
// the task is called over real gRPC (go-plugin's in-process connection to
// the pack service), its arguments are checked against the schema the pack
// describes with the host's own checks, and it reports its sections, steps
// and shared state through a real hub (the embedded NATS server with
// JetStream that a run uses). A test then asserts on the task's result
// tree, its outputs (the data it set and the shared state) and its log:
//
//	func TestPing(t *testing.T) {
//		h := sdktest.New(t, newSet())
//		run := h.Run("ping", sdktest.Args{"host": "localhost", "count": 1})
//		if run.Result != sdk.Passed {
//			t.Fatalf("ping: %s (%s)\n%s", run.Result, run.Reason, run.Text())
//		}
//		if n := run.Find("ping"); n == nil || n.Result != sdk.Passed {
//			t.Errorf("step ping: %+v", n)
//		}
//		if !strings.Contains(run.Log, "sent 1 packets") {
//			t.Errorf("log: %s", run.Log)
//		}
//	}
//
// Each Run is a new task of one run: it sees the shared state that earlier
// Runs of the same Harness left. The task runs in the test's process with
// no log directory: T.Log lines are in Run.Log, and the output of child
// processes started with T.Command goes where their Cmd says (the test's
// stderr by default), not to log files.
//
// # Compatibility
//
// sdktest follows the SDK's promise (see package sdk): within a major
// version of the SDK, what compiles against it keeps compiling.
package sdktest
