package jobfile

// StdinVarFile, as a var file's name, reads the values from standard
// input (Options.Stdin): `-var-file -`, so that a secret need not be on
// the command line, where every local user sees it (ps), nor in a file.
const StdinVarFile = "-"

// stdinName names standard input in diagnostics.
const stdinName = "<stdin>"

// varFileName is how messages name a var file.
func varFileName(path string) string {
	if path == StdinVarFile {
		return "standard input"
	}
	return path
}
