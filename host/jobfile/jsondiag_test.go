package jobfile_test

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/taskhost/taskhost/host/jobfile"
)

// TestDiagnosticsJSONSnippet: the snippet holds the range's lines, with
// offsets that point at the range, also in a line cut to a window.
func TestDiagnosticsJSONSnippet(t *testing.T) {
	t.Parallel()
	long := `job "x" {` + "\n  a = \"" + strings.Repeat("é", 5000) + `" + bad + "` + strings.Repeat("z", 5000) + "\"\n}\n"
	at := strings.Index(long, "bad")
	rng := func(src string, start, end int) *hcl.Range {
		return &hcl.Range{Filename: "f.hcl",
			Start: hcl.Pos{Line: strings.Count(src[:start], "\n") + 1, Column: 1 + start - strings.LastIndexByte(src[:start], '\n') - 1, Byte: start},
			End:   hcl.Pos{Line: strings.Count(src[:end], "\n") + 1, Column: 1 + end - strings.LastIndexByte(src[:end], '\n') - 1, Byte: end}}
	}
	tests := map[string]struct {
		src        string
		start, end int
		code, want string
	}{
		"short":     {src: "job \"x\" {\n  a = bad\n}\n", start: 16, end: 19, code: "  a = bad", want: "bad"},
		"long line": {src: long, start: at, end: at + 3, want: "bad"},
		"two lines": {src: "job \"x\" {\n  a = [\n  bad]\n}\n", start: 16, end: 23, code: "  a = [\n  bad]", want: "[\n  bad"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			diags := hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "S", Detail: "D", Subject: rng(tc.src, tc.start, tc.end)}}
			out := jobfile.DiagnosticsJSON(map[string][]byte{"f.hcl": []byte(tc.src)}, diags)
			if len(out) != 1 || out[0].Snippet == nil {
				t.Fatalf("got %+v", out)
			}
			s := out[0].Snippet
			if tc.code != "" && s.Code != tc.code {
				t.Errorf("code %q, want %q", s.Code, tc.code)
			}
			if len(s.Code) > 640 {
				t.Errorf("code of %d bytes", len(s.Code))
			}
			if got := s.Code[s.HighlightStartOffset:s.HighlightEndOffset]; got != tc.want {
				t.Errorf("highlight %q, want %q", got, tc.want)
			}
			if s.Context == nil || *s.Context != `job "x"` {
				t.Errorf("context %v", s.Context)
			}
		})
	}
}
