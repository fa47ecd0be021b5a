// Package schedule runs a graph of tasks: each starts when the tasks it
// depends on have ended, never more than a limit at once, and a task whose
// dependency did not succeed is Blocked without being started.
package schedule
