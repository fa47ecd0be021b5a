// Package packs keeps the packs directory, where `taskhost packs install`
// puts pack binaries, and the lock file, taskhost.lock.hcl, that pins the
// version and SHA-256 of each pack a jobfile uses.
//
// The packs directory (.taskhost/packs under the current directory unless
// TASKHOST_PACKS_DIR or --packs-dir says otherwise) holds one directory per
// pack, version and platform:
//
//	.taskhost/packs/
//	  net/
//	    1.2.0/
//	      linux_amd64/
//	        net         the pack binary
//	        pack.json   what the pack said of itself at install, and its SHA-256
//
// Install stages everything in a temporary directory inside the packs
// directory and renames it into place only once the binary is checked, so
// a failed install leaves nothing behind. Resolve, which every run calls,
// finds the installed binary of each pack a jobfile requires and checks it
// against the lock before any task starts.
package packs
