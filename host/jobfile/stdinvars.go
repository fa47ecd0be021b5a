package jobfile

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// StdinVarFile, as a var file's name, reads the values from standard
// input (Options.Stdin): `-var-file -`, so that a secret need not be on
// the command line, where every local user sees it (ps), nor in a file.
const StdinVarFile = "-"

// stdinName names standard input in diagnostics.
const stdinName = "<stdin>"

// parseStdinVarFile parses src, a var file read from standard input: JSON
// if it starts with "{" (which HCL's native syntax cannot), HCL otherwise.
func parseStdinVarFile(p *hclparse.Parser, src []byte) (*hcl.File, hcl.Diagnostics) {
	if bytes.HasPrefix(bytes.TrimLeft(src, " \t\r\n"), []byte("{")) {
		return p.ParseJSON(src, stdinName)
	}
	return p.ParseHCL(src, stdinName)
}

// varFileName is how messages name a var file.
func varFileName(path string) string {
	if path == StdinVarFile {
		return "standard input"
	}
	return path
}
