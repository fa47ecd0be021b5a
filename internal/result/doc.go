// Package result defines the seven pyATS results and their rollup. It is
// shared by the host and the SDK; the SDK re-exports it.
package result
