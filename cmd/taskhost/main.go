// Command taskhost runs HCL jobfiles of tasks, each in a task pack process
// of its own. See docs/getting-started.md.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}
