package printable

import "testing"

func TestText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"plain text, ünïcode ▸":  "plain text, ünïcode ▸",
		"\x1b[1mbold\x1b[0m":     `\x1b[1mbold\x1b[0m`,
		"nul\x00 bell\a del\x7f": `nul\x00 bell\x07 del\x7f`,
		"tab\tnewline\ncr\r":     `tab\tnewline\ncr\r`,
		"c1 \u009b31m":           `c1 \u009b31m`,
		"rlo \u202eevil \u2066":  `rlo \u202eevil \u2066`,
		"bad \xff\xfe utf-8":     `bad \xff\xfe utf-8`,
		"a real \uFFFD stays":    "a real \uFFFD stays",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}
