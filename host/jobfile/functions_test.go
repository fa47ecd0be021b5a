package jobfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadBelow(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir := filepath.Join(root, "jobs")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "sub", "in.txt"), "inside")
	write(filepath.Join(root, "secret"), "outside")
	if err := os.Symlink(filepath.Join(root, "secret"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "sub", "in.txt"), filepath.Join(dir, "inlink")); err != nil {
		t.Fatal(err)
	}

	tests := map[string]struct {
		path, want, err string
	}{
		"inside":            {path: "sub/in.txt", want: "inside"},
		"link inside":       {path: "inlink", want: "inside"},
		"dot dot":           {path: "../secret", err: "outside the jobfile's directory"},
		"dot dot inside":    {path: "sub/../sub/in.txt", want: "inside"},
		"link outside":      {path: "link", err: "outside the jobfile's directory"},
		"absolute":          {path: filepath.Join(root, "secret"), err: "absolute path"},
		"missing":           {path: "nope", err: "cannot read"},
		"dot dot then back": {path: "../jobs/sub/in.txt", want: "inside"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := readBelow(dir, tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error with %q", b, err, tc.err)
				}
				return
			}
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %q, %v; want %q", b, err, tc.want)
			}
		})
	}
}
