package htmlreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each line too long is cut, and every step's range maps to the same
// lines in the page's copy, however many cuts come before it.
func TestCutsMapEveryRange(t *testing.T) {
	lines := []string{"a\n", strings.Repeat("b", 100) + "\n", "c\n", strings.Repeat("d", 50), "\n", strings.Repeat("e", 30)}
	log := strings.Join(lines, "")
	path := filepath.Join(t.TempDir(), "task.log")
	os.WriteFile(path, []byte(log), 0o644)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cs, err := findCuts(f, "task.log", 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("%d cuts, want 3 (the lines of b, d and e): %+v", len(cs), cs)
	}
	var b strings.Builder
	if err := cs.copy(&b, f); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if int64(len(page)) != cs.size(int64(len(log))) {
		t.Errorf("copy is %d bytes, size says %d", len(page), cs.size(int64(len(log))))
	}
	off := 0
	for _, l := range lines {
		begin, end := cs.pos(int64(off), false), cs.pos(int64(off+len(l)), true)
		got := page[begin:end]
		if len(l) <= 20 && got != l {
			t.Errorf("line %q is %q in the page", l, got)
		}
		if len(l) > 20 && (!strings.HasPrefix(got, l[:5]) || !strings.HasSuffix(got, l[len(l)-15:]) || !strings.Contains(got, "bytes left out here")) {
			t.Errorf("long line %q is %q in the page", l, got)
		}
		off += len(l)
	}
}
