package jobfile

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// JSONDiagnostic is a diagnostic in the shape of Terraform's
// machine-readable diagnostics (terraform validate -json), for tools that
// read those.
type JSONDiagnostic struct {
	Severity string       `json:"severity"` // "error" or "warning"
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail"`
	Range    *JSONRange   `json:"range,omitempty"`
	Snippet  *JSONSnippet `json:"snippet,omitempty"`
}

// JSONRange is where a diagnostic is: line and column count from 1, byte
// (an offset in the file) from 0; end is just past the range.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is a position in a source file.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONSnippet is the source a diagnostic is about: the block it is in
// (context, such as `task "hello"`, or null), the lines its range covers
// (code, from start_line, at most three and snippetJSONBytes bytes), and
// the byte offsets in code of the range itself. Values, which Terraform
// fills with the values of the expression's variables, is always empty.
type JSONSnippet struct {
	Context              *string `json:"context"`
	Code                 string  `json:"code"`
	StartLine            int     `json:"start_line"`
	HighlightStartOffset int     `json:"highlight_start_offset"`
	HighlightEndOffset   int     `json:"highlight_end_offset"`
	Values               []any   `json:"values"`
}

// snippetJSONBytes is the most bytes of code a JSON snippet holds; a
// longer one is cut to a window around the range.
const snippetJSONBytes = 4 * snippetWidth

// DiagnosticsJSON converts diags to Terraform's machine-readable shape,
// with the same sources as WriteDiagnostics (files, or read from disk)
// and the same bounds: summaries and details cut after 4 KiB, and a
// snippet of at most three lines and snippetJSONBytes bytes.
func DiagnosticsJSON(files map[string][]byte, diags hcl.Diagnostics) []JSONDiagnostic {
	parsed := map[string]*hcl.File{}
	out := make([]JSONDiagnostic, 0, len(diags))
	for _, d := range capDiagnostics(diags) {
		j := JSONDiagnostic{Severity: "error", Summary: clip(d.Summary), Detail: clip(d.Detail)}
		if d.Severity == hcl.DiagWarning {
			j.Severity = "warning"
		}
		if s := d.Subject; s != nil {
			j.Range = &JSONRange{Filename: s.Filename,
				Start: JSONPos{s.Start.Line, s.Start.Column, s.Start.Byte},
				End:   JSONPos{s.End.Line, s.End.Column, s.End.Byte}}
			if f := sourceFile(parsed, files, s.Filename); f != nil {
				j.Snippet = snippetJSON(f, *s)
			}
		}
		out = append(out, j)
	}
	return out
}

// sourceFile reads and parses a diagnostic's source once, as
// WriteDiagnostics does; nil if it cannot be read.
func sourceFile(parsed map[string]*hcl.File, files map[string][]byte, name string) *hcl.File {
	if f, done := parsed[name]; done {
		return f
	}
	src, ok := files[name]
	if !ok {
		var err error
		if src, err = readFile(name, MaxFileBytes); err != nil {
			parsed[name] = nil
			return nil
		}
	}
	f := parseForNav(src, name)
	parsed[name] = f
	return f
}

func snippetJSON(f *hcl.File, rng hcl.Range) *JSONSnippet {
	src := f.Bytes
	if rng.Start.Byte < 0 || rng.Start.Byte > len(src) || rng.End.Byte < rng.Start.Byte {
		return nil
	}
	s := &JSONSnippet{StartLine: rng.Start.Line, Values: []any{}}
	if ctx := contextOf(f, rng.Start.Byte); ctx != "" {
		s.Context = &ctx
	}
	// The lines the range covers, from the start of its first line.
	codeStart := bytes.LastIndexByte(src[:rng.Start.Byte], '\n') + 1
	var lines []string
	for n, ls := rng.Start.Line, codeStart; n <= max(rng.End.Line, rng.Start.Line) && len(lines) < 3 && ls <= len(src); n++ {
		le := bytes.IndexByte(src[ls:], '\n')
		if le < 0 {
			le = len(src)
		} else {
			le += ls
		}
		lines = append(lines, strings.TrimSuffix(string(src[ls:le]), "\r"))
		ls = le + 1
	}
	code := strings.Join(lines, "\n")
	hs := min(rng.Start.Byte-codeStart, len(code))
	he := min(hs+rng.End.Byte-rng.Start.Byte, len(code))
	if len(code) > snippetJSONBytes {
		from := max(0, min(hs-snippetJSONBytes/4, len(code)-snippetJSONBytes))
		for from > 0 && !utf8.RuneStart(code[from]) {
			from--
		}
		to := min(len(code), from+snippetJSONBytes)
		for to < len(code) && !utf8.RuneStart(code[to]) {
			to--
		}
		code, hs, he = code[from:to], hs-from, min(he-from, to-from)
	}
	s.Code, s.HighlightStartOffset, s.HighlightEndOffset = code, hs, max(he, hs)
	return s
}
