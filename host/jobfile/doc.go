// Package jobfile loads and checks taskhost jobfiles.
//
// A jobfile is written in HCL native syntax. It declares input variables,
// exactly one job, the packs (plugin executables) the job uses, and the
// tasks to run, each served by one pack:
//
//	variable "target" {
//	  type    = string
//	  default = "localhost"
//	}
//
//	job "demo" {
//	  max_parallel = 4
//	  timeout      = "10m"
//	}
//
//	pack "demo" {
//	  path = "../bin/demo"
//	}
//
//	task "hello" {
//	  pack       = "demo"
//	  task       = "hello"
//	  args       = { name = var.target }
//	  depends_on = [task.setup]
//	}
//
// Packs installed in a packs directory are required by name and version
// instead of path (RequiredPack); host/packs finds their binaries and
// checks them against the lock file:
//
//	required_packs {
//	  net = { version = ">= 1.2, < 2.0" }
//	}
//
// A placement block, in a task or in the job as the default of its tasks,
// says where a task may run: labels = { lab = "sjc" } for workers that
// carry those labels, or local = true for the host (the default, as
// without a block). Task.Placement holds the effect; ClassOf gives a label
// set's canonical class. Only the host runs tasks in this build, and
// host/plan refuses any other placement.
//
// A task block with count or for_each makes several tasks (ping[0],
// ping["r1"]); a task's args may read another task's outputs as
// task.ID.output.NAME, which makes it a dependency and defers that
// argument: Task.EvalDeferred evaluates it once the outputs are known, and
// MergeArgs adds it to the checked args. See docs/jobfile.md for the
// language.
//
// Load (or LoadWith, with variable values from -var, -var-file and the
// environment) parses a jobfile and checks everything that can be checked
// without starting any pack. Once the packs have described themselves, CheckArgs
// checks each task's arguments against its pack's schema and encodes them
// as JSON. All problems are reported as hcl.Diagnostics; WriteDiagnostics
// renders them with source snippets.
//
// A load is held to limits (MaxSourceBytes, MaxFileBytes, MaxDepth,
// MaxNumberLength, MaxValueElements, MaxTasks, MaxWork, MaxDiagnostics):
// whatever it reads, it ends in a second or two, refused with a diagnostic
// on the line past a limit, and never overflows the stack or exhausts
// memory.
package jobfile
