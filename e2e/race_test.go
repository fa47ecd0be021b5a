//go:build race

package e2e

// The binaries under test are built with the race detector too.
func init() { buildFlags = append(buildFlags, "-race") }
