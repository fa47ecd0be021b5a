package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nkeys"
)

// The lab directory's keys for a hub on a NATS cluster (taskhost run
// --hub): the host's user nkey, which the cluster's nodes let in with
// every permission, and the account nkey that signs the users the host
// admits through the nodes' auth callout. Several hosts on one cluster
// each have a host key of their own and the same issuer key (a node's
// auth callout has one issuer): copy issuer.seed into their labs.
const (
	HostSeedFile   = "host.seed"
	IssuerSeedFile = "issuer.seed"
)

// Cluster is a lab's keys for a hub on a cluster.
type Cluster struct {
	HostSeed, IssuerSeed []byte
	// HostPub ("U...") and IssuerPub ("A...") are their public keys, which
	// the nodes' config names.
	HostPub, IssuerPub string
}

// ClusterKeys returns dir's keys for a hub on a cluster, making the lab
// directory (0700) and each key that it lacks (0600).
func ClusterKeys(dir string) (Cluster, error) {
	var c Cluster
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return c, err
	}
	if err := checkPrivate(dir); err != nil {
		return c, err
	}
	var err error
	if c.HostSeed, c.HostPub, err = clusterKey(filepath.Join(dir, HostSeedFile), nkeys.PrefixByteUser); err != nil {
		return c, err
	}
	if c.IssuerSeed, c.IssuerPub, err = clusterKey(filepath.Join(dir, IssuerSeedFile), nkeys.PrefixByteAccount); err != nil {
		return c, err
	}
	return c, nil
}

// ReadClusterKeys returns dir's keys for a hub on a cluster, which
// ClusterKeys made; it makes none.
func ReadClusterKeys(dir string) (Cluster, error) {
	var c Cluster
	if err := checkPrivate(dir); err != nil {
		return c, err
	}
	var err error
	if c.HostSeed, c.HostPub, err = readClusterKey(filepath.Join(dir, HostSeedFile), nkeys.PrefixByteUser, false); err != nil {
		return c, err
	}
	if c.IssuerSeed, c.IssuerPub, err = readClusterKey(filepath.Join(dir, IssuerSeedFile), nkeys.PrefixByteAccount, false); err != nil {
		return c, err
	}
	return c, nil
}

// clusterKey reads the seed at path, or makes one of kind there.
func clusterKey(path string, kind nkeys.PrefixByte) (seed []byte, pub string, err error) {
	return readClusterKey(path, kind, true)
}

// readClusterKey reads the seed at path, or if create, makes one of kind
// there when there is none.
func readClusterKey(path string, kind nkeys.PrefixByte, create bool) (seed []byte, pub string, err error) {
	seed, err = ReadSeed(path)
	if errors.Is(err, os.ErrNotExist) && !create {
		return nil, "", fmt.Errorf("%s: no key: 'taskhost hub config' makes the lab's keys and prints the block the cluster's nodes need", path)
	}
	if errors.Is(err, os.ErrNotExist) {
		kp, err := nkeys.CreatePair(kind)
		if err != nil {
			return nil, "", err
		}
		if seed, err = kp.Seed(); err != nil {
			return nil, "", err
		}
		if err := writeFile(path, append(seed, '\n'), 0o600); err != nil {
			return nil, "", err
		}
	} else if err != nil {
		return nil, "", err
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	if pub, err = kp.PublicKey(); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	ok := nkeys.IsValidPublicUserKey(pub)
	if kind == nkeys.PrefixByteAccount {
		ok = nkeys.IsValidPublicAccountKey(pub)
	}
	if !ok {
		want := map[nkeys.PrefixByte]string{nkeys.PrefixByteUser: "a user", nkeys.PrefixByteAccount: "an account"}[kind]
		return nil, "", fmt.Errorf("%s: not the seed of %s nkey", path, want)
	}
	return seed, pub, nil
}
