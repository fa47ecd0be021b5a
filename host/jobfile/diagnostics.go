package jobfile

import (
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// WriteDiagnostics writes diags to w as text, with a snippet of the source
// each one refers to. Sources are taken from files, keyed by the filenames
// in the diagnostics' ranges (which are the filenames given to Load or
// LoadSource); sources not in files are read from disk. Diagnostics about
// sources that cannot be read are written without snippets.
func WriteDiagnostics(w io.Writer, files map[string][]byte, diags hcl.Diagnostics) error {
	hclFiles := make(map[string]*hcl.File)
	add := func(rng *hcl.Range) {
		if rng == nil || rng.Filename == "" {
			return
		}
		if _, done := hclFiles[rng.Filename]; done {
			return
		}
		src, ok := files[rng.Filename]
		if !ok {
			var err error
			if src, err = os.ReadFile(rng.Filename); err != nil {
				hclFiles[rng.Filename] = nil
				return
			}
		}
		// Parsing gives the writer the block structure it uses to say
		// which block a diagnostic is in. The source may be invalid, which
		// is often why there are diagnostics, so errors are ignored.
		file, _ := hclsyntax.ParseConfig(src, rng.Filename, hcl.InitialPos)
		if file == nil {
			file = &hcl.File{}
		}
		file.Bytes = src
		hclFiles[rng.Filename] = file
	}
	for _, diag := range diags {
		add(diag.Subject)
		add(diag.Context)
	}
	return hcl.NewDiagnosticTextWriter(w, hclFiles, 0, false).WriteDiagnostics(diags)
}
