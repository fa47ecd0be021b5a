// Package taskenv is what a process of a task runs with (Env: its
// emitter, log file, hub access, outputs) and how a task hands it to a
// child process it starts: the TASKHOST_CHILD variable, the child's log
// file and parent-death signal (StartChild), and a child joining the
// task (Attach).
package taskenv
