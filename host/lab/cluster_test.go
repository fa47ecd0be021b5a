package lab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nkeys"
)

// TestClusterKeys: ClusterKeys makes a user key and an account key, each
// private, once (again it reads the same; ReadClusterKeys reads them and
// makes none), and refuses a seed others may read or a seed of the wrong
// kind.
func TestClusterKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadClusterKeys(dir); err == nil {
		t.Errorf("ReadClusterKeys before ClusterKeys: no error")
	}
	c, err := ClusterKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !nkeys.IsValidPublicUserKey(c.HostPub) || !nkeys.IsValidPublicAccountKey(c.IssuerPub) {
		t.Errorf("keys %s %s, want a user's and an account's", c.HostPub, c.IssuerPub)
	}
	for _, f := range []string{HostSeedFile, IssuerSeedFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, st.Mode(), err)
		}
	}
	again, err := ClusterKeys(dir)
	if err != nil || again.HostPub != c.HostPub || again.IssuerPub != c.IssuerPub || string(again.HostSeed) != string(c.HostSeed) {
		t.Errorf("again: %s %s %v, want the same keys", again.HostPub, again.IssuerPub, err)
	}
	if read, err := ReadClusterKeys(dir); err != nil || read.HostPub != c.HostPub || read.IssuerPub != c.IssuerPub {
		t.Errorf("ReadClusterKeys: %s %s %v, want the keys made", read.HostPub, read.IssuerPub, err)
	}
	kp, err := nkeys.FromSeed(c.HostSeed)
	if err != nil {
		t.Fatal(err)
	}
	if pub, _ := kp.PublicKey(); pub != c.HostPub {
		t.Errorf("the host's seed is of %s, want %s", pub, c.HostPub)
	}

	if err := os.Chmod(filepath.Join(dir, IssuerSeedFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ClusterKeys(dir); err == nil {
		t.Errorf("an issuer seed others may read: no error")
	}
	if err := os.Chmod(filepath.Join(dir, IssuerSeedFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, IssuerSeedFile), c.HostSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ClusterKeys(dir); err == nil {
		t.Errorf("a user's seed as the issuer's: no error")
	}
}
