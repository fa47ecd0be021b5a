package lab

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// TestLab: Init makes a certificate for the hosts given (and localhost),
// once; Add writes a private seed whose public key is in the agents file;
// adding again replaces the key; Revoke removes it; a directory or seed
// others may read is refused.
func TestLab(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	made, err := Init(dir, []string{"10.1.0.1", "hub.example"})
	if err != nil || !made {
		t.Fatalf("Init: %v %v", made, err)
	}
	if made, err := Init(dir, nil); err != nil || made {
		t.Fatalf("Init again: %v %v", made, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"10.1.0.1", "hub.example", "localhost", "127.0.0.1"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("certificate for %s: %v", h, err)
		}
	}
	if err := cert.VerifyHostname("10.1.0.2"); err == nil {
		t.Error("certificate good for 10.1.0.2, not given")
	}
	if _, err := ServerTLS(dir); err != nil {
		t.Fatal(err)
	}

	seed := filepath.Join(t.TempDir(), "a1.seed")
	pub, err := Add(dir, "a1", seed)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ReadSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.FromSeed(s)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := kp.PublicKey(); p != pub {
		t.Errorf("seed's public key %s, file's %s", p, pub)
	}
	keys, err := Keys(dir)()
	if err != nil || keys["a1"] != pub || len(keys) != 1 {
		t.Fatalf("Keys: %v %v", keys, err)
	}
	if _, err := Add(dir, "a1", seed); err == nil {
		t.Error("Add over an existing key file")
	}
	seed2 := filepath.Join(t.TempDir(), "a1.seed")
	pub2, err := Add(dir, "a1", seed2)
	if err != nil || pub2 == pub {
		t.Fatalf("Add again: %v %v", pub2, err)
	}
	if keys, _ := Keys(dir)(); keys["a1"] != pub2 || len(keys) != 1 {
		t.Errorf("after a new key: %v", keys)
	}
	if ok, err := Revoke(dir, "a1"); !ok || err != nil {
		t.Fatalf("Revoke: %v %v", ok, err)
	}
	if keys, _ := Keys(dir)(); len(keys) != 0 {
		t.Errorf("after Revoke: %v", keys)
	}
	if ok, _ := Revoke(dir, "a1"); ok {
		t.Error("Revoke of an unknown agent said it revoked")
	}
	if _, err := Add(dir, "A B", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("Add took a bad name")
	}
	if err := os.Chmod(seed2, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSeed(seed2); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("ReadSeed of a readable seed: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := ServerTLS(dir); err == nil || !strings.Contains(err.Error(), "0700") {
		t.Errorf("ServerTLS of an open directory: %v", err)
	}
}
