// Package packcli is the command line of a pack started by hand (`PACK
// describe`, `PACK run TASK`) and of a program a task starts (RunChild):
// run here, or joined to the task that started the process.
package packcli
