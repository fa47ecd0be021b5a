// Package attempt runs one attempt of a pack call: a task's attempt, or a
// hook's call at one stage. It starts the pack's process through a
// Starter, within the call's timeout, hands the call the hub's
// credentials and its deadline, runs it, reads how it ended (it returned;
// it was stopped and had its grace period; its process died), ends the
// process and closes out the call's result tree in the hub. Tasks and
// hooks both run through Runner.Run; its input (Call) and output
// (Outcome) are plain Go, converted to and from the pack protocol only in
// internal/packwire.
package attempt
