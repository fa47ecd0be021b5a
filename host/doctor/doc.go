// Package doctor checks what taskhost needs from the machine before a run:
// a private directory for the packs' Unix sockets, socket paths short
// enough for the kernel, free space for the run directory, a hub that
// starts, and packs that match the lock file. Each failed check says what
// is wrong and how to fix it.
//
// `taskhost doctor` runs every check; `taskhost run` runs the quick ones
// (all but the hub's, which the run starts at once anyway) and refuses to
// start when one fails:
//
//	checks := doctor.Run(doctor.Config{RunsDir: "runs"})
//	doctor.Write(os.Stdout, checks)
//	if doctor.AnyFailed(checks) {
//		os.Exit(1)
//	}
//
// The checks and their messages may change between versions.
package doctor
