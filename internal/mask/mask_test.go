package mask

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestString(t *testing.T) {
	t.Parallel()
	m := New("hunter2", "abc", "hunter2-long", `pa"ss<w>`)
	tests := map[string]struct{ in, want string }{
		"plain":           {"run true --password hunter2", "run true --password (sensitive)"},
		"twice":           {"hunter2hunter2", "(sensitive)(sensitive)"},
		"longer wins":     {"x hunter2-long y", "x (sensitive) y"},
		"too short":       {"abc", "abc"},
		"json escaped":    {`{"p":"pa\"ss\u003cw\u003e"}`, `{"p":"(sensitive)"}`},
		"go quoted":       {`p="pa\"ss<w>"`, `p="(sensitive)"`},
		"nothing to mask": {"hello", "hello"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := m.String(tc.in); got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if got := string(m.Bytes([]byte(tc.in))); got != tc.want {
				t.Errorf("Bytes(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	var none *Masker
	if none.String("hunter2") != "hunter2" || !none.Empty() || New("ab").Values() != nil {
		t.Error("a nil or empty Masker masks")
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	m := New("hunter2", "123456")
	tests := map[string]struct{ in, want string }{
		"string":          {`{"a":"x hunter2 y","b":[1,2]}`, `{"a":"x (sensitive) y","b":[1,2]}`},
		"escaped":         {`{"a":"\u0068unter2"}`, `{"a":"(sensitive)"}`},
		"key":             {`{"hunter2":true, "n": null}`, `{"(sensitive)":true,"n":null}`},
		"number":          {`{"pin":123456,"ok":1.5e3}`, `{"pin":"(sensitive)","ok":1.5e3}`},
		"nested":          {`[{"a":[{"b":"hunter2"}]},"z"]`, `[{"a":[{"b":"(sensitive)"}]},"z"]`},
		"untouched":       {`{ "a" : "x\n" }`, `{ "a" : "x\n" }`},
		"no value":        {`{"a": "plain"}`, `{"a": "plain"}`},
		"not json":        {`{"a": "hunter2"`, `{"a": "(sensitive)"`},
		"two values":      {`"hunter2" "b"`, `"(sensitive)" "b"`},
		"top-level value": {`"hunter2"`, `"(sensitive)"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := string(m.JSON([]byte(tc.in)))
			if got != tc.want {
				t.Errorf("JSON(%s) = %s, want %s", tc.in, got, tc.want)
			}
			if json.Valid([]byte(tc.in)) && !json.Valid([]byte(got)) {
				t.Errorf("JSON(%s) = %s is not valid JSON", tc.in, got)
			}
		})
	}
}

func TestIn(t *testing.T) {
	t.Parallel()
	m := New("hunter2", "se<cret")
	got := m.In([]byte(`{"password":"se\u003ccret"}`))
	if diff := cmp.Diff([]string{"se<cret"}, got); diff != "" {
		t.Errorf("In (-want +got):\n%s", diff)
	}
	m.Add("more-values", "hunter2")
	if diff := cmp.Diff([]string{"hunter2", "se<cret", "more-values"}, m.Values()); diff != "" {
		t.Errorf("Values after Add (-want +got):\n%s", diff)
	}
}

func TestWriter(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := New("hunter2").Writer(&b)
	n, err := w.Write([]byte("login hunter2\n"))
	if err != nil || n != 14 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if b.String() != "login (sensitive)\n" {
		t.Errorf("wrote %q", b.String())
	}
}

// TestFile masks a file larger than the read chunk, with values across
// the chunk's edge, and checks that Shift maps offsets to the same text.
func TestFile(t *testing.T) {
	t.Parallel()
	m := New("hunter2", "hunter2-long")
	var src bytes.Buffer
	for src.Len() < 3*chunk {
		src.WriteString(strings.Repeat("x", 97) + "hunter2-long line\n")
		src.WriteString(strings.Repeat("y", 13) + " hunter2 ")
	}
	path := filepath.Join(t.TempDir(), "task.log")
	if err := os.WriteFile(path, src.Bytes(), 0o640); err != nil {
		t.Fatal(err)
	}
	edits, err := m.File(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("hunter2-long", Text, "hunter2", Text).Replace(src.String())
	if string(got) != want {
		t.Fatalf("masked file differs (%d bytes, want %d)", len(got), len(want))
	}
	if n := strings.Count(src.String(), "hunter2"); len(edits) != n {
		t.Errorf("%d edits, want %d", len(edits), n)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	// A range of whole lines maps onto the same lines.
	lines := strings.SplitAfter(src.String(), "\n")
	var off int64
	for i, l := range lines[:50] {
		b, e := Shift(edits, off, false), Shift(edits, off+int64(len(l)), true)
		if wantLine := strings.SplitAfter(want, "\n")[i]; string(got[b:e]) != wantLine {
			t.Fatalf("line %d: shifted range holds %q, want %q", i, got[b:e], wantLine)
		}
		off += int64(len(l))
	}
	// Offsets inside a value go to its Text's edges.
	first := edits[0]
	if b := Shift(edits, first.Off+2, false); b != first.Off {
		t.Errorf("begin inside a value: %d, want %d", b, first.Off)
	}
	if e := Shift(edits, first.Off+2, true); e != first.Off+int64(len(Text)) {
		t.Errorf("end inside a value: %d, want %d", e, first.Off+int64(len(Text)))
	}

	// A file without a value is left alone.
	clean := filepath.Join(t.TempDir(), "clean.log")
	os.WriteFile(clean, []byte("nothing here\n"), 0o600)
	st1, _ := os.Stat(clean)
	if edits, err := m.File(clean); err != nil || edits != nil {
		t.Errorf("File(clean) = %v, %v", edits, err)
	}
	if st2, _ := os.Stat(clean); !os.SameFile(st1, st2) {
		t.Error("a file without a value was replaced")
	}
}
