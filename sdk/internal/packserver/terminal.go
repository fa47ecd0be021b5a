package packserver

import "os"

// useTerminal makes os.Stdin and os.Stdout the user's terminal, which the
// host hands an interactive task as fds 3 and 4 (`taskhost run
// --interactive TASK`), so that a task can ask questions with fmt and
// bufio as any program does. The returned func puts them back.
func useTerminal() (restore func()) {
	in, out := os.Stdin, os.Stdout
	os.Stdin = os.NewFile(3, "terminal input")
	os.Stdout = os.NewFile(4, "terminal output")
	return func() { os.Stdin, os.Stdout = in, out }
}
