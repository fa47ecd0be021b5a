// Package logfile is a pack process's log file in the run directory
// (tasks/<id>/task.log, pid-<pid>.log): appended to, masked, and able to
// say where it ends, so that each step knows where its lines are, and how
// many lines a full disk lost.
package logfile
