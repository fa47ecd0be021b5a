// Package report holds the result events that a task publishes and the tree
// that is built from them. The SDK produces events; the host (and the SDK's
// stand-alone `run` mode) applies them to a Tree.
package report
