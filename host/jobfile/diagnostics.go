package jobfile

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// WriteDiagnostics writes diags to w as text: the severity and summary,
// where it is as FILE:LINE:COL and in which block, the source line with the
// offending range underlined, and the detail. Sources are taken from files,
// keyed by the filenames in the diagnostics' ranges (the filenames given to
// Load or LoadSource); sources not in files are read from disk. A diagnostic
// whose source cannot be read is written without a snippet.
//
//	Error: Unknown pack
//
//	  on jobs/demo.hcl:8:10, in task "hello":
//	     8 |   pack = "dmeo"
//	       |          ^^^^^^
//
//	No pack named "dmeo" is declared. Did you mean "demo"?
func WriteDiagnostics(w io.Writer, files map[string][]byte, diags hcl.Diagnostics) error {
	parsed := map[string]*hcl.File{}
	source := func(name string) *hcl.File {
		if f, done := parsed[name]; done {
			return f
		}
		src, ok := files[name]
		if !ok {
			var err error
			if src, err = os.ReadFile(name); err != nil {
				parsed[name] = nil
				return nil
			}
		}
		// Parsing gives the block structure that says which block a
		// diagnostic is in. The source may well be invalid (that is often
		// why there are diagnostics), so errors are ignored.
		f, _ := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		if f == nil {
			f = &hcl.File{}
		}
		f.Bytes = src
		parsed[name] = f
		return f
	}
	var b bytes.Buffer
	for _, d := range diags {
		sev := "Error"
		if d.Severity == hcl.DiagWarning {
			sev = "Warning"
		}
		fmt.Fprintf(&b, "%s: %s\n\n", sev, d.Summary)
		if s := d.Subject; s != nil {
			fmt.Fprintf(&b, "  on %s:%d:%d", s.Filename, s.Start.Line, s.Start.Column)
			f := source(s.Filename)
			if f == nil {
				b.WriteString(":\n  (source not available)\n\n")
			} else {
				if ctx := contextOf(f, s.Start.Byte); ctx != "" {
					b.WriteString(", in " + ctx)
				}
				b.WriteString(":\n")
				writeSnippet(&b, f.Bytes, *s)
				b.WriteString("\n")
			}
		}
		if d.Detail != "" {
			b.WriteString(d.Detail)
			b.WriteString("\n\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeSnippet writes the lines of src that rng covers (at most three),
// with the part of the first line that rng covers underlined.
func writeSnippet(b *bytes.Buffer, src []byte, rng hcl.Range) {
	sc := hcl.NewRangeScanner(src, rng.Filename, bufio.ScanLines)
	shown := 0
	for sc.Scan() && shown < 3 {
		line := sc.Range()
		if line.Start.Line < rng.Start.Line || line.Start.Line > rng.End.Line {
			continue
		}
		text := strings.ReplaceAll(string(sc.Bytes()), "\t", " ")
		fmt.Fprintf(b, "  %4d | %s\n", line.Start.Line, text)
		if shown == 0 {
			start := rng.Start.Column - 1
			end := len([]rune(text))
			if rng.End.Line == rng.Start.Line {
				end = rng.End.Column - 1
			}
			if end <= start {
				end = start + 1
			}
			fmt.Fprintf(b, "       | %s%s\n", strings.Repeat(" ", start), strings.Repeat("^", end-start))
		}
		shown++
	}
}

// contextOf names the block that holds offset, such as `task "hello"`.
func contextOf(f *hcl.File, offset int) string {
	if cs, ok := f.Nav.(interface{ ContextString(int) string }); ok {
		return cs.ContextString(offset)
	}
	return ""
}

// dedupe drops the diagnostics that repeat an earlier one exactly: the
// instances of a task made with count or for_each share their source, so
// a problem in it would otherwise be reported once per instance.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	if len(diags) < 2 {
		return diags
	}
	type key struct {
		sev             hcl.DiagnosticSeverity
		summary, detail string
		subject         hcl.Range
	}
	seen := make(map[key]bool, len(diags))
	out := diags[:0:0]
	for _, d := range diags {
		k := key{sev: d.Severity, summary: d.Summary, detail: d.Detail}
		if d.Subject != nil {
			k.subject = *d.Subject
		}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}
