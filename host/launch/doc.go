// Package launch starts task packs as go-plugin subprocesses, each in a
// process group of its own, and ends them with everything they started.
package launch
