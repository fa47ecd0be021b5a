// Package sdk is what a task pack imports: it turns a Go program into a
// pack binary that a taskhost host runs as a plugin, one process per task.
//
// A pack's main makes a Set, registers its tasks and runs the set:
//
//	func main() {
//		s := sdk.NewSet("net", "0.1.0")
//		sdk.Register(s, "ping", "Pings a host.", Ping)
//		s.Run()
//	}
//
// A task is a function of a *T and an argument struct, and feels like a Go
// test. Sections and steps nest; a call that sets a result (Failf, Errorf,
// Skip, Block, Abort, Passx) ends the current step, as t.FailNow does in a
// test; a step that is not Passed, Passx or Skipped also ends the step or
// section that started it, unless it was started with Continue:
//
//	type PingArgs struct {
//		Host  string        `arg:"host,required" doc:"the host to ping"`
//		Count int           `doc:"how many packets (default 3)"`
//		Wait  time.Duration `doc:"how long to wait for each reply"`
//	}
//
//	func Ping(t *sdk.T, args PingArgs) {
//		t.Step("resolve "+args.Host, func(t *sdk.T) { … })
//		t.Step("ping", func(t *sdk.T) {
//			if lost > 0 {
//				t.Failf("%d of %d packets lost", lost, args.Count)
//			}
//		}, sdk.Continue)
//	}
//
// # Arguments
//
// Every exported field of the argument struct is an argument; the struct
// is the task's schema, which the pack sends to the host and the host
// checks the jobfile against before anything runs.
//
//   - `arg:"name"` names the argument. Without a name (no tag, or
//     `arg:",required"`) it is the field name in snake_case: HTTPPort is
//     http_port.
//   - `arg:"name,required"` makes it required; arguments are optional otherwise,
//     and an argument not given keeps its zero value.
//   - `arg:"-"` leaves the field out.
//   - `doc:"…"` describes it (shown by `PACK describe`).
//
// Field types map to the types the host checks values against: string →
// string; bool → bool; every integer and float kind → number; slices and
// arrays → list; maps with string keys → map; pointers → their element's
// type; time.Duration → a string such as "30s"; json.RawMessage and
// interface types (any) → any value; a struct → an object whose attributes
// are named, and required, by the same tags. These hold at any depth. A
// struct type that contains itself is refused: use json.RawMessage or any
// for recursive data. A task without arguments takes NoArgs.
//
// Register panics on a bad argument type or a name registered twice: both
// are bugs in the pack, found the first time it starts.
//
// # Results and logs
//
// The seven pyATS results and their order are those of Result. A panic in
// a task or step makes it Errored, with the stack in the task's log. When
// the task's timeout passes or the run is stopped, T.Context is cancelled
// and the task has the grace period to return before its processes are
// killed; a task that returns a passing result after that is Aborted.
//
// T.Log, T.Logf and T.Logger write go-hclog lines, with their level, to the
// task's log file in the run directory (tasks/<id>/task.log). T.Command
// starts a child process that joins the task: its output goes to a log
// file of its own, and a child that uses the SDK (RunChild, or a pack
// binary's run command) reports its steps under the step that started it.
// A pack must not write to standard output before Set.Run serves: the host
// reads the plugin handshake from it.
//
// # Hooks
//
// RegisterHook adds a hook: a function like a task's that runs before and
// after the job or each task, at the stages it is registered for (PreJob,
// PreTask, PostTask, PostJob), when a jobfile's hook block enables it. It
// also gets a *Hook: the stage, the task it runs around, and the run's
// results so far (RunSummary). A hook that does not pass blocks the job
// (PreJob) or the task (PreTask), and makes the run's exit code 3:
//
//	sdk.RegisterHook(s, "notify", "Posts the summary.", []sdk.Stage{sdk.PostJob},
//		func(t *sdk.T, h *sdk.Hook, args NotifyArgs) { … h.Results … })
//
// # Running a pack by hand
//
// Run gives every pack a small command line when no host started it:
//
//	PACK describe                       print the pack's description as JSON
//	PACK run TASK [--json] [--arg k=v]… run one task here and print its result tree
//
// # Testing
//
// Package sdk/sdktest runs a task inside go test as a host does (real
// gRPC, a real hub) and returns its result tree, outputs and log; see
// docs/packs.md for writing, testing, building and releasing a pack.
//
// # Compatibility
//
// Three things are versioned apart, and a pack's description carries all
// three: the pack's own version (NewSet), the SDK's (Version, the version
// of the github.com/taskhost/taskhost module) and the pack protocol
// versions it speaks.
//
// The SDK's exported API (this package and sdk/sdktest) follows semantic
// versioning. Before 1.0 (now: 0.1.0), an exported name may change or go in
// a minor release, and the release notes say how to move. From 1.0 on,
// within a major version, a pack that compiles keeps compiling and behaves
// the same: new functions, methods, fields, options and struct tags may be
// added; nothing is removed or renamed, no signature changes, and the
// documented meaning of the argument tags, the seven results and their
// rollup, and of `PACK describe` and `PACK run` stays. Fields may be added
// to Description, TaskInfo and ArgInfo (and to their JSON). Types with
// unexported fields (Set, T, State, Lock, Cmd) are made only by this
// package.
//
// The wire protocol (go-plugin, gRPC, the hub's NATS subjects) is never
// part of the API: it lives in internal packages, and a pack author never
// imports grpc or nats. It is versioned by its own protocol version (now
// 2, served beside 1; docs/protocol.md). Within a protocol version,
// changes are additive only (new fields with new numbers, new RPCs a host
// may find unimplemented), so a pack built with any SDK that speaks
// protocol 1 runs under any host that speaks protocol 1, either side
// being newer. An
// incompatible change is a new protocol version, served beside the old
// one (go-plugin's VersionedPlugins): the host offers the versions it
// speaks and the pack picks the highest both share; a pack that shares
// none is refused with both sides' versions in the message. A new SDK
// keeps speaking the old version for at least one major version of the
// SDK, so that rebuilding a pack is enough to move. Version 2 gave a task
// the hub's CA, to reach it over TLS from an agent: a pack of an SDK that
// speaks only version 1 runs on the host, and is refused on agents.
package sdk
