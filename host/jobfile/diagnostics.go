package jobfile

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// WriteDiagnostics writes diags to w as text: the severity and summary,
// where it is as FILE:LINE:COL and in which block, the source line with the
// offending range underlined, and the detail. Sources are taken from files,
// keyed by the filenames in the diagnostics' ranges (the filenames given to
// Load or LoadSource); sources not in files are read from disk, as the
// loader reads them (a regular file of at most MaxFileBytes). A diagnostic
// whose source cannot be read is written without a snippet. Only the
// first MaxDiagnostics diagnostics are written, then a count of the rest;
// a snippet shows at most three lines, each cut to a window around the
// range if long.
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
	source := func(name string) *hcl.File { return sourceFile(parsed, files, name) }
	var b bytes.Buffer
	for _, d := range capDiagnostics(diags) {
		sev := "Error"
		if d.Severity == hcl.DiagWarning {
			sev = "Warning"
		}
		fmt.Fprintf(&b, "%s: %s\n\n", sev, clip(d.Summary))
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
			b.WriteString(clip(d.Detail))
			b.WriteString("\n\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeSnippet writes the lines of src that rng covers (at most three),
// with the part of the first line that rng covers underlined. It finds the
// first line from the range's byte offset, so each snippet costs the
// length of its lines, not of the file; a line longer than snippetWidth
// is cut to a window around the range's start.
func writeSnippet(b *bytes.Buffer, src []byte, rng hcl.Range) {
	if rng.Start.Byte < 0 || rng.Start.Byte > len(src) {
		return
	}
	ls := bytes.LastIndexByte(src[:rng.Start.Byte], '\n') + 1
	for n, shown := rng.Start.Line, 0; n <= rng.End.Line && shown < 3 && ls <= len(src); n, shown = n+1, shown+1 {
		le := bytes.IndexByte(src[ls:], '\n')
		if le < 0 {
			le = len(src)
		} else {
			le += ls
		}
		line := []rune(strings.ReplaceAll(strings.TrimSuffix(string(src[ls:le]), "\r"), "\t", " "))
		start, end := 0, len(line)
		if shown == 0 {
			start = min(max(rng.Start.Column-1, 0), len(line))
			if rng.End.Line == rng.Start.Line {
				end = rng.End.Column - 1
			}
			end = min(max(end, start+1), start+snippetWidth)
		}
		from := 0
		if len(line) > snippetWidth {
			from = max(0, min(start-snippetWidth/4, len(line)-snippetWidth))
		}
		to := min(len(line), from+snippetWidth)
		text := string(line[from:to])
		if from > 0 {
			text = "…" + text
		}
		if to < len(line) {
			text += "…"
		}
		fmt.Fprintf(b, "  %4d | %s\n", n, text)
		if shown == 0 {
			pad := start - from
			if from > 0 {
				pad++
			}
			fmt.Fprintf(b, "       | %s%s\n", strings.Repeat(" ", pad), strings.Repeat("^", max(min(end, to)-start, 1)))
		}
		ls = le + 1
	}
}

// parseForNav parses src for its block structure, which says which block
// a diagnostic is in. The source may well be invalid (that is often why
// there are diagnostics), so errors are ignored; one past the limits
// (nested too deeply for the parser) is not parsed.
func parseForNav(src []byte, name string) *hcl.File {
	var f *hcl.File
	if !checkSource(src, name, sourceConfig).HasErrors() {
		f, _ = hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	}
	if f == nil {
		f = &hcl.File{}
	}
	f.Bytes = src
	return f
}

// snippetWidth is the most characters of a line a snippet shows.
const snippetWidth = 160

// clip cuts a summary or detail after maxDetail bytes: one may quote a
// value of the jobfile, which can be megabytes long.
func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%s more bytes)", s[:cut], thousands(len(s)-cut))
}

// maxDetail is the most bytes of a summary or detail written.
const maxDetail = 4096

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
