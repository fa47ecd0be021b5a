// Package launch starts task packs as go-plugin subprocesses, each in a
// process group (and, where Linux lets it, a cgroup) of its own, and ends
// them with everything they started, also what left the group
// (Supervisor).
package launch
