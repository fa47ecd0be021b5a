package runner

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTighten: at the end of a run, what the packs wrote with their own
// umask gets the run's modes: private, or readable by the group; the
// owner's bits are kept, and a symbolic link's target outside is left
// alone.
func TestTighten(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		acc  access
		want map[string]os.FileMode
	}{
		"private": {access{gid: -1}, map[string]os.FileMode{
			".": 0o700, "tasks": 0o700, "tasks/a": 0o700, "tasks/a/task.log": 0o600, "tasks/a/tool": 0o700,
			"hub": 0o700, "hub/x": 0o600, "outside": 0o644,
		}},
		"group": {access{group: "g", gid: os.Getgid()}, map[string]os.FileMode{
			".": 0o750 | os.ModeSetgid, "tasks": 0o750 | os.ModeSetgid, "tasks/a": 0o750 | os.ModeSetgid,
			"tasks/a/task.log": 0o640, "tasks/a/tool": 0o750, "hub": 0o700, "hub/x": 0o600, "outside": 0o644,
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			top := t.TempDir()
			dir := filepath.Join(top, "run")
			for _, d := range []string{"run/tasks/a", "run/hub"} {
				if err := os.MkdirAll(filepath.Join(top, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for f, mode := range map[string]os.FileMode{"run/tasks/a/task.log": 0o666, "run/tasks/a/tool": 0o755, "run/hub/x": 0o644, "outside": 0o644} {
				if err := os.WriteFile(filepath.Join(top, f), nil, mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(filepath.Join(top, f), mode); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(filepath.Join(top, "outside"), filepath.Join(dir, "tasks", "a", "link")); err != nil {
				t.Fatal(err)
			}
			if err := tc.acc.tighten(dir); err != nil {
				t.Fatal(err)
			}
			got := map[string]os.FileMode{}
			for p := range tc.want {
				path := filepath.Join(dir, p)
				if p == "outside" {
					path = filepath.Join(top, p)
				}
				st, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				got[p] = st.Mode() & (os.ModePerm | os.ModeSetgid)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("modes (-want +got):\n%s", diff)
			}
		})
	}
}
