package packserver

import (
	"os"
	"path/filepath"
	"testing"
)

// A pack serves its socket only from a directory no other user can enter:
// the host's private directory as it is; another one (none, or one others
// can enter, such as /tmp) gets a private directory of the pack's own in
// it, removed by the cleanup.
func TestPrivateSocketDir(t *testing.T) {
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o1777); err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", shared)
	for name, c := range map[string]struct {
		given  string
		inside string // where the directory used must be; "" for given itself
	}{
		"the host's private directory": {given: private},
		"a shared directory":           {given: shared, inside: shared},
		"none":                         {given: "", inside: shared},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(socketDirEnv, c.given)
			cleanup, err := privateSocketDir()
			if err != nil {
				t.Fatal(err)
			}
			got := os.Getenv(socketDirEnv)
			switch {
			case c.inside == "" && got != c.given:
				t.Errorf("socket directory %s, want the host's %s", got, c.given)
			case c.inside != "" && filepath.Dir(got) != c.inside:
				t.Errorf("socket directory %s, want one made in %s", got, c.inside)
			}
			if st, err := os.Stat(got); err != nil {
				t.Errorf("%s: %v", got, err)
			} else if st.Mode().Perm() != 0o700 {
				t.Errorf("%s has mode %v, want 0700", got, st.Mode().Perm())
			}
			cleanup()
			_, err = os.Stat(got)
			if c.inside == "" && err != nil {
				t.Errorf("the host's directory was removed: %v", err)
			}
			if c.inside != "" && !os.IsNotExist(err) {
				t.Errorf("the pack's own directory %s was not removed (%v)", got, err)
			}
		})
	}
}
