// Package emit sends a task's result events: to the run's JetStream
// stream on the hub, in batches that survive a lost connection and are
// stored once (Hub), or into a tree in memory for a task run by hand
// (Mem), with the task's sensitive values masked (WithMask).
package emit
