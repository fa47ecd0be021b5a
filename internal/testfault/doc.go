// Package testfault holds the faults that taskhost's own tests inject
// into a run (dropped connections, to test reconnection), in one struct
// that the host's packages pass along unchanged.
package testfault
